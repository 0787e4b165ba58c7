/*
 * strata/strata.h - the whole Strata plugin SDK. Include this one.
 */
#ifndef STRATA_STRATA_H
#define STRATA_STRATA_H

#include "abi.h"
#include "config.h"
#include "event.h"
#include "host.h"
#include "plugin.h"

#endif /* STRATA_STRATA_H */
