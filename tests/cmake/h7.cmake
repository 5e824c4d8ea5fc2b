# Hardening of keys and of `consume` (issue 10, items 4 and 8):
# tests/test_keyset.c (unit, globbed), tests/integration/test_hardening_keys.py
# and test_hardening_consume.py (integration, globbed).
#
# test_wipe_o2 (tests/cmake/h1.cmake) compiles consumer/ot_auth.c on its
# own; its ZAP handler now rate-limits its refusal lines on the monotonic
# clock, so the program needs lib/ot_clock.c as well.
target_sources(test_wipe_o2 PRIVATE ${PROJECT_SOURCE_DIR}/lib/ot_clock.c)

