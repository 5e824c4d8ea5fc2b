# The Debian package of optally (included by the top-level CMakeLists.txt):
#   cmake -S . -B build-deb -DCMAKE_BUILD_TYPE=RelWithDebInfo \
#         -DCMAKE_INSTALL_PREFIX=/usr -DOPTALLY_TESTS=OFF -DOPTALLY_BENCH=OFF
#   cmake --build build-deb && (cd build-deb && cpack -G DEB)
# (`make deb` does this) writes build-deb/optally_<version>_<arch>.deb: what
# packaging/install.cmake installs, under /usr (the unit in
# /lib/systemd/system), with /etc/default/optally a conffile, Depends
# computed by dpkg-shlibdeps, a shlibs file and an ldconfig trigger for
# liboptally-client.so.0, gzipped man pages, a changelog, and the
# maintainer scripts of packaging/deb/ (systemd: enable and start on
# install, stop and disable on removal, only where systemd runs).
# tests/integration/test_deb.py checks the result, lintian included.
#
# The prefix is fixed when the build is configured (install.cmake puts the
# defaults file in /etc/default and the libraries in lib/<multiarch> only
# for /usr), so cpack refuses a DEB from a build configured for another
# prefix rather than package /usr/local or /usr/etc.
set(CPACK_PACKAGE_NAME optally)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "optally")
set(CPACK_PACKAGE_CONTACT "optally maintainers <maintainers@users.noreply.r-seed-39a15a66.example>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
  "event processor folding operation events into tallies (ZeroMQ + LMDB)")
# The extended description, plain text: CPack puts the summary above it,
# indents each line by one space and turns the blank line into " .".
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
"optally receives events from producers (scrapers) over ZeroMQ, validates
them and stores each exactly once in LMDB together with the tallies it
changes, and answers the producer only after the commit. Subscribers get
the tallies as a snapshot plus live updates.

This package holds the optally command and its man pages, the systemd
service optally.service (optally consume, flags in /etc/default/optally),
and the client library liboptally-client with its headers and optally.pc
for producers and subscribers written in C.")

set(CPACK_GENERATOR DEB)
set(CPACK_SET_DESTDIR ON)
set(CPACK_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_STRIP_FILES ON)

set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS_POLICY "=")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
  ${PROJECT_SOURCE_DIR}/packaging/deb/conffiles
  ${PROJECT_SOURCE_DIR}/packaging/deb/postinst
  ${PROJECT_SOURCE_DIR}/packaging/deb/prerm
  ${PROJECT_SOURCE_DIR}/packaging/deb/postrm
  ${PROJECT_SOURCE_DIR}/packaging/deb/triggers)   # ldconfig, for liboptally-client.so.0

# Read by cpack for each generator: the prefix guard described above.
set(CPACK_PROJECT_CONFIG_FILE ${PROJECT_BINARY_DIR}/packaging/cpack-options.cmake)
file(WRITE ${CPACK_PROJECT_CONFIG_FILE}
"if(CPACK_GENERATOR STREQUAL \"DEB\" AND NOT \"${CMAKE_INSTALL_PREFIX}\" STREQUAL \"/usr\")
  message(FATAL_ERROR \"optally: a DEB needs a build configured with -DCMAKE_INSTALL_PREFIX=/usr \"
    \"(this one has ${CMAKE_INSTALL_PREFIX}); `make deb` does it\")
endif()
")

# What a Debian package carries beyond install.cmake's files, installed only
# under /usr (the package's prefix): the man pages gzipped (-n: no name or
# time stamp, so the same build gives the same bytes), and the changelog of
# a native package, /usr/share/doc/optally/changelog.gz, written here from
# the version (its date: SOURCE_DATE_EPOCH when set, as Debian's builds do).
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  find_program(GZIP gzip REQUIRED)
  install(CODE "
    file(GLOB pages \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_MANDIR}/man1/optally*.1\")
    foreach(page IN LISTS pages)
      execute_process(COMMAND ${GZIP} -9nf \${page} RESULT_VARIABLE rc)
      if(rc)
        message(FATAL_ERROR \"gzip \${page}: \${rc}\")
      endif()
    endforeach()
  ")
  set(OPTALLY_CHANGELOG ${PROJECT_BINARY_DIR}/packaging/changelog)
  string(TIMESTAMP OPTALLY_CHANGELOG_DATE "%a, %d %b %Y %H:%M:%S +0000" UTC)
  file(WRITE ${OPTALLY_CHANGELOG} "optally (${PROJECT_VERSION}) unstable; urgency=medium

  * Built from the optally source tree by cpack (packaging/cpack.cmake).

 -- ${CPACK_PACKAGE_CONTACT}  ${OPTALLY_CHANGELOG_DATE}
")
  execute_process(COMMAND ${GZIP} -9nf ${OPTALLY_CHANGELOG} RESULT_VARIABLE rc)
  if(rc)
    message(FATAL_ERROR "gzip ${OPTALLY_CHANGELOG}: ${rc}")
  endif()
  install(FILES ${OPTALLY_CHANGELOG}.gz DESTINATION ${CMAKE_INSTALL_DOCDIR})
endif()

include(CPack)
