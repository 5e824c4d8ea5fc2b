# The subscriber's gap check, run once against a deliberately broken build
# (STYLE rule 9: a test of a safety property must be seen to fail).
#
# otsubscriber_broken_gaps is subscriber/ot_subscriber.c compiled with
# OT_TEST_BROKEN_IGNORE_GAPS: it takes any later sequence as the next one
# and ignores a heartbeat that is ahead. test_subscriber_broken_gaps is
# tests/test_subscriber.c linked against it. Each ctest below runs one gap
# test (selected by name, a cmocka filter) and passes only when that test
# FAILS, and fails the way a missed gap makes it fail: after a lost update
# the subscriber hands out the next one as an UPDATE (kind 3) where the
# correct library gives a RESYNC (kind 4); after a heartbeat that is ahead,
# it stays silent where the correct library re-snapshots; on a figures
# stream it tells no missed figure (none counted after a skip, and silence
# after a heartbeat that names figures it never saw).
# Neither target is installed nor linked into optally.
add_library(otsubscriber_broken_gaps STATIC ${PROJECT_SOURCE_DIR}/subscriber/ot_subscriber.c)
target_compile_definitions(otsubscriber_broken_gaps PRIVATE OT_TEST_BROKEN_IGNORE_GAPS)
target_include_directories(otsubscriber_broken_gaps PUBLIC ${PROJECT_SOURCE_DIR}/subscriber)
target_link_libraries(otsubscriber_broken_gaps PUBLIC otcore PkgConfig::ZMQ optally_flags)

add_executable(test_subscriber_broken_gaps ${CMAKE_CURRENT_SOURCE_DIR}/test_subscriber.c)
target_link_libraries(test_subscriber_broken_gaps PRIVATE otsubscriber_broken_gaps otcore
  PkgConfig::CMOCKA optally_flags)

# The inverting wrapper: run PROGRAM with the filter TEST; pass only when it
# exits non-zero, ran exactly that one test, reports it FAILED with the text
# EXPECT, and no sanitizer spoke (a crash is not the expected failure).
set(OT_H5_EXPECT_FAILURE ${CMAKE_CURRENT_BINARY_DIR}/h5_expect_failure.cmake)
file(WRITE ${OT_H5_EXPECT_FAILURE} [=[
execute_process(COMMAND ${PROGRAM} ${TEST} RESULT_VARIABLE rc OUTPUT_VARIABLE out
  ERROR_VARIABLE out TIMEOUT 60)
message("${out}")
if(rc EQUAL 0)
  message(FATAL_ERROR "${TEST} PASSED against the broken build: it cannot detect the defect")
endif()
string(FIND "${out}" "Running 1 test(s)." ran_one)
string(FIND "${out}" "[  FAILED  ] ${TEST}" failed)
string(FIND "${out}" "${EXPECT}" expected)
string(REGEX MATCH "AddressSanitizer|runtime error|LeakSanitizer" sanitizer "${out}")
if(ran_one EQUAL -1 OR failed EQUAL -1 OR expected EQUAL -1 OR sanitizer)
  message(FATAL_ERROR "${TEST} failed (rc ${rc}), but not with the expected '${EXPECT}'")
endif()
message("OK: ${TEST} fails against the broken build, as it must: '${EXPECT}'")
]=])

# name -> the cmocka test it runs -> the failure it must show
set(OT_H5_BROKEN_GAP_TESTS
  "gap|t_gap_resnapshots|event kind 3, want 4"
  "heartbeat_ahead|t_heartbeat_ahead_resnapshots|no event within 5000 ms"
  "figure_gap|t_figures_stream|0 != 0x2"
  "figure_heartbeat_gap|t_figures_heartbeat_gap|no event within 5000 ms")
foreach(spec ${OT_H5_BROKEN_GAP_TESTS})
  string(REPLACE "|" ";" parts "${spec}")
  list(GET parts 0 short)
  list(GET parts 1 test)
  list(GET parts 2 expect)
  add_test(NAME broken_subscriber_${short}
    COMMAND ${CMAKE_COMMAND} -DPROGRAM=$<TARGET_FILE:test_subscriber_broken_gaps>
      -DTEST=${test} -DEXPECT=${expect}
      -P ${OT_H5_EXPECT_FAILURE})
  set_tests_properties(broken_subscriber_${short} PROPERTIES LABELS "broken;unit" TIMEOUT 120)
endforeach()
