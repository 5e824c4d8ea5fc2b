# Fault injection below the store, and the broken variant of the crash loop.
# Included by tests/CMakeLists.txt: ${CMAKE_CURRENT_SOURCE_DIR} is tests/.

# --- libiofault: an LD_PRELOAD shim failing pwrite/writev/fsync/... ---------
# A plain shared object, without sanitizers (it is preloaded after the ASan
# runtime of a sanitizer build; see tests/fault/iofault.c).
add_library(iofault MODULE ${CMAKE_CURRENT_SOURCE_DIR}/fault/iofault.c)
target_compile_options(iofault PRIVATE -Wall -Wextra -Wshadow -Wstrict-prototypes
  -Wmissing-prototypes -Wformat=2 -Wvla)
if(OPTALLY_WERROR)
  target_compile_options(iofault PRIVATE -Werror)
endif()
target_link_libraries(iofault PRIVATE ${CMAKE_DL_LIBS} Threads::Threads)
set_target_properties(iofault PROPERTIES PREFIX "lib")

# The ASan runtime to preload first when the binary under test has it.
set(OT_ASAN_RUNTIME "")
if(OPTALLY_SANITIZE)
  execute_process(COMMAND ${CMAKE_C_COMPILER} -print-file-name=libasan.so
    OUTPUT_VARIABLE OT_ASAN_RUNTIME OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT IS_ABSOLUTE "${OT_ASAN_RUNTIME}" OR NOT EXISTS "${OT_ASAN_RUNTIME}")
    message(FATAL_ERROR "tests/cmake/h4.cmake: ${CMAKE_C_COMPILER} -print-file-name=libasan.so "
      "gave '${OT_ASAN_RUNTIME}', not a file: test_iofault could not preload its shim")
  endif()
endif()

set_property(TEST integ_test_iofault APPEND PROPERTY ENVIRONMENT
  "OT_IOFAULT_SHIM=$<TARGET_FILE:iofault>" "OT_ASAN_RUNTIME=${OT_ASAN_RUNTIME}")

# --- optally_broken_nodedup: the crash loop must catch a broken dedup -------
# The same sources as optally (the globs of the top-level CMakeLists.txt),
# with OT_TEST_BROKEN_NO_DEDUP (store/ot_store.c s_fold_item: every event is
# new, so a re-sent batch or a duplicate line counts twice). The libraries
# are static, so the store and everything above it are built again: a
# variant of each target whose link libraries name a variant in its place.
# Never installed.
set(OT_BROKEN_DEF OT_TEST_BROKEN_NO_DEDUP)
set(OT_BROKEN_TARGETS otstore otconsumer)   # rebuilt in that order
function(ot_broken_variant tgt kind)
  get_target_property(srcs ${tgt} SOURCES)
  get_target_property(src_dir ${tgt} SOURCE_DIR)
  set(abs "")
  foreach(s ${srcs})
    if(IS_ABSOLUTE "${s}")
      list(APPEND abs "${s}")
    else()
      list(APPEND abs "${src_dir}/${s}")
    endif()
  endforeach()
  set(v ${tgt}_broken_nodedup)
  if(kind STREQUAL "EXECUTABLE")
    add_executable(${v} ${abs})
  else()
    add_library(${v} STATIC ${abs})
  endif()
  target_compile_definitions(${v} PRIVATE ${OT_BROKEN_DEF})
  foreach(prop INCLUDE_DIRECTORIES INTERFACE_INCLUDE_DIRECTORIES)
    get_target_property(dirs ${tgt} ${prop})
    if(dirs)
      set_property(TARGET ${v} PROPERTY ${prop} "${dirs}")
    endif()
  endforeach()
  foreach(prop LINK_LIBRARIES INTERFACE_LINK_LIBRARIES)
    get_target_property(libs ${tgt} ${prop})
    if(libs)
      foreach(b ${OT_BROKEN_TARGETS})
        list(TRANSFORM libs REPLACE "(^|:)${b}(>?)$" "\\1${b}_broken_nodedup\\2")
      endforeach()
      set_property(TARGET ${v} PROPERTY ${prop} "${libs}")
    endif()
  endforeach()
endfunction()
ot_broken_variant(otstore STATIC)
ot_broken_variant(otconsumer STATIC)
ot_broken_variant(optally EXECUTABLE)
set_target_properties(optally_broken_nodedup PROPERTIES OUTPUT_NAME optally_broken_nodedup)

# The crash loop, short, against the broken binary: passes only when the
# crash loop reports the over-count (tests/crash/crashloop.py
# --expect-failure). Built with the tests (target optally_broken_nodedup);
# a missing binary fails the test.
add_test(NAME crash_broken_nodedup
  COMMAND ${OT_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/crash/crashloop.py
    --events 6000 --kills 3 --seed 9 --expect-failure "tallies differ from the model" --expect-overcount)
set_tests_properties(crash_broken_nodedup PROPERTIES LABELS "crash;broken" TIMEOUT 600
  ENVIRONMENT "OPTALLY_PUBLISH=none;OPTALLY_SNAPSHOT=none;OPTALLY_BIN=$<TARGET_FILE:optally_broken_nodedup>;OPTALLY_PYPATH=${PY_OUT};OPTALLY_SRC=${PROJECT_SOURCE_DIR};PYTHONDONTWRITEBYTECODE=1")

# The power cut against a consumer that acknowledges before its data is on
# disk (--nosync): passes only when test_powercut reports a lost
# acknowledged event.
add_test(NAME crash_broken_nosync_powercut
  COMMAND ${OT_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/crash/expect_failure.py
    "acknowledged .*(lost|is not in the log|but the log holds)" --
    ${OT_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_powercut.py --broken-nosync)
set_tests_properties(crash_broken_nosync_powercut PROPERTIES LABELS "crash;broken" TIMEOUT 900
  ENVIRONMENT "OPTALLY_PUBLISH=none;OPTALLY_SNAPSHOT=none;OPTALLY_BIN=$<TARGET_FILE:optally>;OPTALLY_PYPATH=${PY_OUT};OPTALLY_SRC=${PROJECT_SOURCE_DIR};PYTHONDONTWRITEBYTECODE=1")
