/* A shared object that is not a Strata plugin: no entry symbol. */
#include <strata/strata.h>
STRATA_EXPORT int something_else(void);
STRATA_EXPORT int something_else(void)
{
    return 42;
}
