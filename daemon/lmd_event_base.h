/*
 * lmd_event_base.h -- private to daemon/lmd_event*.c and lmd_conn*.c: the
 * libevent base those files build their events on.
 */

#ifndef LMD_EVENT_BASE_H
#define LMD_EVENT_BASE_H

struct event_base;

struct event_base *lmd_event_base(void);

#endif /* LMD_EVENT_BASE_H */
