# bench/: what ctest checks of the benchmark programs, untimed (a timed run
# is not a test; `make bench` runs them). With -DOPTALLY_BENCH=OFF there is
# nothing of bench/ to check.
#  - test_otb_util: the helpers the programs share (tests/bench/);
#  - bench_usage_<prog>: each program is built (under the sanitizers in CI)
#    and answers a wrong option with its usage line;
#  - bench_e2e_links_producer: the C driver sends through the shipped
#    producer library, not a DEALER loop of its own.
if(OPTALLY_BENCH)
  add_executable(test_otb_util ${CMAKE_CURRENT_SOURCE_DIR}/bench/test_otb_util.c)
  target_link_libraries(test_otb_util PRIVATE otb_util PkgConfig::CMOCKA optally_flags)
  add_test(NAME test_otb_util COMMAND test_otb_util)
  set_tests_properties(test_otb_util PROPERTIES LABELS unit TIMEOUT 60)

  foreach(prog otb_gen otb_e2e otb_sqlite otb_redis otb_zmq otb_lmdb otb_idindex)
    add_test(NAME bench_usage_${prog} COMMAND ${prog} --no-such-option)
    set_tests_properties(bench_usage_${prog} PROPERTIES LABELS unit TIMEOUT 60
      PASS_REGULAR_EXPRESSION "usage: ${prog} ")
  endforeach()

  find_program(OT_NM nm REQUIRED)
  add_test(NAME bench_e2e_links_producer
    COMMAND sh -c "'${OT_NM}' \"$1\" | grep -q ' T ot_producer_submit$'" sh $<TARGET_FILE:otb_e2e>)
  set_tests_properties(bench_e2e_links_producer PROPERTIES LABELS unit TIMEOUT 60)
endif()
