# strata_add_plugin(KIND NAME SOURCES...)
# Builds strata_KIND_NAME.so the way the host expects: a MODULE with no
# "lib" prefix, hidden visibility so only strata_plugin_entry is exported.
function(strata_add_plugin kind name)
  set(target strata_${kind}_${name})
  add_library(${target} MODULE ${ARGN})
  set_target_properties(${target} PROPERTIES PREFIX "" C_VISIBILITY_PRESET hidden
    C_STANDARD 11)
  target_link_libraries(${target} PRIVATE Strata::sdk)
endfunction()
