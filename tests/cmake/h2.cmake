# h2: the shared fold model of the store tests, and the link check of the
# client libraries (lib/ knows no LMDB).

# One in-memory model of the exactly-once fold for test_store and
# test_rebuild (tests/support/ot_model.c; not named test_*, so not a test).
foreach(t test_store test_rebuild)
  target_sources(${t} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/support/ot_model.c)
  target_include_directories(${t} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/support)
endforeach()

# test_tally fails allocations of the accumulator through link-time wrappers.
target_link_options(test_tally PRIVATE -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc)

# A client program of the sending and subscribing libraries only. It must
# run without liblmdb: tests/integration/test_linkage.py runs ldd on it (and
# on optally, which must link liblmdb, so the check can fail).
add_executable(ot_client_link ${CMAKE_CURRENT_SOURCE_DIR}/support/client_link.c)
target_link_libraries(ot_client_link PRIVATE otproducer otsubscriber optally_flags)
set_property(TEST integ_test_linkage APPEND PROPERTY ENVIRONMENT
  "OT_CLIENT_LINK_BIN=$<TARGET_FILE:ot_client_link>")
