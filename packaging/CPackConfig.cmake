# .deb packaging: `cpack -G DEB` in the build directory.
set(CPACK_PACKAGE_NAME strata)
set(CPACK_PACKAGE_VENDOR "Strata")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Log pipelines, storage and search")
set(CPACK_PACKAGE_CONTACT "maintainers@strata.invalid")
set(CPACK_DEBIAN_PACKAGE_DEPENDS "libev4, libyaml-0-2, libhttp-parser2.9, libpcre2-8-0")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
install(FILES ${CMAKE_CURRENT_LIST_DIR}/strata.service DESTINATION lib/systemd/system)
include(CPack)
