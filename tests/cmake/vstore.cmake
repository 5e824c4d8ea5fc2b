# vstore: test_views_store (views declared at run time, in the store) checks
# its declared views against the fold model test_store and test_rebuild share
# (tests/support/ot_model.c).
target_sources(test_views_store PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/support/ot_model.c)
target_include_directories(test_views_store PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/support)
