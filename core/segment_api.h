/*
 * core/segment_api.h - the segment reading table the host exports to
 * plugins as the built-in service STRATA_SEGMENT_SERVICE.
 */
#ifndef STRATA_CORE_SEGMENT_API_H
#define STRATA_CORE_SEGMENT_API_H

#include "strata/segment.h"

/* The table (static, lives for the process). */
const strata_segment_api *segment_api_table(void);

#endif /* STRATA_CORE_SEGMENT_API_H */
