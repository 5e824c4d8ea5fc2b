/*
 * client_link: the smallest client of optally's sending and subscribing
 * libraries (otproducer, otsubscriber, and otcore under them). Built by
 * tests/cmake/h2.cmake and looked at with ldd by
 * tests/integration/test_linkage.py: such a program must not need liblmdb
 * (lib/ knows no LMDB; only the store does).
 *
 * It calls a function of each library with options they refuse before
 * touching a socket, so it runs anywhere; exit 0 when both refused.
 */
#include <stdio.h>

#include "ot_error.h"
#include "ot_producer.h"
#include "ot_subscriber.h"

int
main(void)
{
    ot_producer_options po = { 0 };     /* no on_result: EINVAL */
    ot_producer *p = NULL;
    int prc = ot_producer_open(&po, &p);

    ot_subscriber_options so = { .updates = "" };   /* empty endpoint: OT_EUSAGE */
    ot_subscriber *s = NULL;
    int src = ot_subscriber_open(&so, &s);

    printf("producer: %s; subscriber: %s\n", ot_strerror(prc), ot_strerror(src));
    ot_producer_close(&p);
    ot_subscriber_close(&s);
    return prc != 0 && src != 0 ? 0 : 1;
}
