# Liveness of the consumer: tests/test_consumer.c (unit) and
# tests/integration/test_liveness.py.
#
# libclockstep.so: an LD_PRELOAD shim stepping CLOCK_REALTIME back once
# (tests/shim/clockstep.c). Built without optally_flags: a sanitized shim
# would bring a second ASan runtime into the process. Under
# OPTALLY_SANITIZE the test preloads libasan first (ASan insists on coming
# first in the initial library list), then the shim; the path of libasan
# is passed to the test as OPTALLY_ASAN_RUNTIME.
add_library(clockstep SHARED ${CMAKE_CURRENT_SOURCE_DIR}/shim/clockstep.c)
target_compile_options(clockstep PRIVATE -Wall -Wextra -Werror -O2)
target_link_libraries(clockstep PRIVATE ${CMAKE_DL_LIBS})
set_target_properties(clockstep PROPERTIES PREFIX "lib" OUTPUT_NAME clockstep)

set(OT_H1_ASAN "")
if(OPTALLY_SANITIZE)
  execute_process(COMMAND ${CMAKE_C_COMPILER} -print-file-name=libasan.so
    OUTPUT_VARIABLE OT_H1_ASAN OUTPUT_STRIP_TRAILING_WHITESPACE)
endif()
# The test also preloads libiofault (tests/cmake/h4.cmake, tests/fault/iofault.c)
# to fail LMDB's meta page write, so that the store becomes unusable.
set_property(TEST integ_test_liveness APPEND PROPERTY ENVIRONMENT
  "OPTALLY_CLOCKSTEP=$<TARGET_FILE:clockstep>" "OPTALLY_IOFAULT=$<TARGET_FILE:iofault>"
  "OPTALLY_ASAN_RUNTIME=${OT_H1_ASAN}")
set_property(TEST integ_test_liveness APPEND PROPERTY LABELS fault)
# test_consumer injects store faults (OT_EFATAL) and steps the wall clock.
set_property(TEST test_consumer APPEND PROPERTY LABELS fault)

# test_wipe_o2: secrets are wiped before free in an optimised build. The
# two files that hold key material are compiled again at -O2 without
# sanitizers (a debug build keeps a dead memset, a release build drops it)
# and every free() of theirs is wrapped (tests/shim/wipe_check.c).
add_executable(test_wipe_o2 ${CMAKE_CURRENT_SOURCE_DIR}/shim/wipe_check.c
  ${PROJECT_SOURCE_DIR}/consumer/ot_auth.c ${PROJECT_SOURCE_DIR}/lib/ot_keys.c)
target_include_directories(test_wipe_o2 PRIVATE ${PROJECT_SOURCE_DIR}/lib ${PROJECT_SOURCE_DIR}/consumer)
target_compile_definitions(test_wipe_o2 PRIVATE _POSIX_C_SOURCE=200809L _DEFAULT_SOURCE _GNU_SOURCE)
target_compile_options(test_wipe_o2 PRIVATE -O2 -Wall -Wextra -Werror)
target_link_options(test_wipe_o2 PRIVATE -Wl,--wrap=free)
target_link_libraries(test_wipe_o2 PRIVATE PkgConfig::ZMQ PkgConfig::CMOCKA Threads::Threads)
add_test(NAME test_wipe_o2 COMMAND test_wipe_o2)
set_tests_properties(test_wipe_o2 PROPERTIES LABELS unit TIMEOUT 60)
