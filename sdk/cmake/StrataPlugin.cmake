# strata_add_plugin(KIND NAME SOURCES...)
# Builds strata_KIND_NAME.so the way the host expects: a MODULE with no
# "lib" prefix, hidden visibility and the version script strata-plugin.map,
# so that only strata_plugin_entry is exported (static libraries linked
# into the plugin stay hidden too).
set(STRATA_PLUGIN_MAP "${CMAKE_CURRENT_LIST_DIR}/strata-plugin.map")
function(strata_add_plugin kind name)
  set(target strata_${kind}_${name})
  add_library(${target} MODULE ${ARGN})
  set_target_properties(${target} PROPERTIES PREFIX "" C_VISIBILITY_PRESET hidden
    C_STANDARD 11 LINK_DEPENDS "${STRATA_PLUGIN_MAP}")
  target_link_options(${target} PRIVATE "-Wl,--version-script=${STRATA_PLUGIN_MAP}")
  target_link_libraries(${target} PRIVATE Strata::sdk)
endfunction()
