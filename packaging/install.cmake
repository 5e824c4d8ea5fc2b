# Install rules of optally (included by the top-level CMakeLists.txt):
# `cmake --install BUILD --prefix P` (DESTDIR honoured) puts there
#   bin/optally
#   lib/liboptally-client.so.0 (+ .so link) and liboptally-client.a
#   include/optally/  the client headers: ot_producer.h, ot_subscriber.h and
#                     what they include (no store, no LMDB header)
#   lib/pkgconfig/optally.pc
#   share/man/man1/   optally.1 and optally-CMD.1 per subcommand (help2man)
#   lib/systemd/system/optally.service, etc/default/optally
# With -DCMAKE_INSTALL_PREFIX=/usr (a distribution package) the unit goes
# to /lib/systemd/system, the defaults file to /etc/default and the
# libraries to lib/<multiarch>.
include(GNUInstallDirs)

install(TARGETS optally RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS optally_client_shared optally_client_static
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})

# The public headers: what ot_producer.h and ot_subscriber.h include, and
# ot_error.h (the codes they return) and ot_keys.h (CurveZMQ key files).
# Each includes only the others and system headers (test_install.py
# compiles a client against this set alone).
install(FILES
  ${PROJECT_SOURCE_DIR}/producer/ot_producer.h
  ${PROJECT_SOURCE_DIR}/subscriber/ot_subscriber.h
  ${PROJECT_SOURCE_DIR}/lib/ot_event.h
  ${PROJECT_SOURCE_DIR}/lib/ot_fields.h
  ${PROJECT_SOURCE_DIR}/lib/ot_error.h
  ${PROJECT_SOURCE_DIR}/lib/ot_keys.h
  ${PROTO_OUT}/optally.pb-c.h
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/optally)

# pkg-config: prefix relative to the .pc file's own directory.
file(RELATIVE_PATH OPTALLY_PC_UP "/p/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/p")
configure_file(${PROJECT_SOURCE_DIR}/packaging/optally.pc.in
  ${PROJECT_BINARY_DIR}/packaging/optally.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/packaging/optally.pc
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# Man pages, generated at build time from --help by help2man (part of
# `all`). No help2man: the target fails, loudly, rather than install a
# package without its pages (scripts/deps.sh installs help2man).
find_program(HELP2MAN help2man)
if(NOT HELP2MAN)
  message(WARNING "help2man not found: the man pages (target optally_man, part of all) "
    "will fail to build; run scripts/deps.sh (Debian package help2man)")
  set(HELP2MAN help2man)
endif()
set(OPTALLY_MAN_DIR ${PROJECT_BINARY_DIR}/man)
add_custom_command(
  OUTPUT ${OPTALLY_MAN_DIR}/optally.1
  COMMAND ${CMAKE_COMMAND} -E env HELP2MAN=${HELP2MAN}
    sh ${PROJECT_SOURCE_DIR}/packaging/gen-man.sh $<TARGET_FILE:optally> ${OPTALLY_MAN_DIR} ${PROJECT_VERSION}
  DEPENDS optally ${PROJECT_SOURCE_DIR}/packaging/gen-man.sh
  COMMENT "help2man: optally(1) and a page per subcommand"
  VERBATIM)
add_custom_target(optally_man ALL DEPENDS ${OPTALLY_MAN_DIR}/optally.1)
install(DIRECTORY ${OPTALLY_MAN_DIR}/ DESTINATION ${CMAKE_INSTALL_MANDIR}/man1
  FILES_MATCHING PATTERN "*.1")

# systemd unit: ExecStart names the binary under the prefix of the install
# (which `cmake --install --prefix` may change), so it is written then.
install(CODE "
  set(OPTALLY_BINDIR \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}\")
  configure_file(\"${PROJECT_SOURCE_DIR}/packaging/optally.service.in\"
    \"${PROJECT_BINARY_DIR}/packaging/optally.service\" @ONLY)
")
# Under /usr (a distribution package) the unit goes where Debian 12's
# systemd packages put theirs, /lib/systemd/system, and the defaults file
# to /etc/default; under another prefix both stay inside it.
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(OPTALLY_UNIT_DIR /lib/systemd/system)
  set(OPTALLY_DEFAULT_DIR /etc/default)
else()
  set(OPTALLY_UNIT_DIR lib/systemd/system)
  set(OPTALLY_DEFAULT_DIR ${CMAKE_INSTALL_SYSCONFDIR}/default)
endif()
install(FILES ${PROJECT_BINARY_DIR}/packaging/optally.service
  DESTINATION ${OPTALLY_UNIT_DIR})
install(FILES ${PROJECT_SOURCE_DIR}/packaging/optally.default
  DESTINATION ${OPTALLY_DEFAULT_DIR} RENAME optally)
