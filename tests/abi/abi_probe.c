/*
 * tests/abi/abi_probe.c - a shared object whose exported function mentions
 * every public SDK type, so `abidw` records their layout. The committed
 * baseline (sdk/abi/strata-abi-1.xml) is compared with abidiff by
 * tests/abi/check_abi.sh: growing a table at its end is allowed, anything
 * else that breaks binary compatibility fails the test.
 */
#include <strata/index.h>
#include <strata/index_admin.h>
#include <strata/search.h>
#include <strata/segment.h>
#include <strata/strata.h>

typedef struct strata_abi_everything {
    strata_plugin plugin;
    strata_host_api host;
    strata_event event;
    strata_kv kv;
    strata_str str;
    strata_config_key key;
    strata_plugin_kind kind;
    strata_config_type ctype;
    strata_level level;
    strata_value_type vtype;
    strata_log_level llevel;
    strata_metric_type mtype;
} strata_abi_everything;

__attribute__((visibility("default"))) size_t strata_abi_probe(const strata_abi_everything *e);
__attribute__((visibility("default"))) size_t strata_abi_probe(const strata_abi_everything *e)
{
    return e ? sizeof *e : 0;
}

/* The segment reading table (strata/segment.h), probed apart so that the
 * main probe's layout stays as recorded. */
__attribute__((visibility("default"))) size_t
strata_abi_probe_segment(const strata_segment_api *api, const strata_segment_info *info);
__attribute__((visibility("default"))) size_t
strata_abi_probe_segment(const strata_segment_api *api, const strata_segment_info *info)
{
    return (api ? sizeof *api : 0) + (info ? sizeof *info : 0);
}

/* The index admin service's table (strata/index_admin.h). */
__attribute__((visibility("default"))) size_t
strata_abi_probe_index_admin(const strata_index_admin_api *api, const strata_compact_result *res);
__attribute__((visibility("default"))) size_t
strata_abi_probe_index_admin(const strata_index_admin_api *api, const strata_compact_result *res)
{
    return (api ? sizeof *api : 0) + (res ? sizeof *res : 0);
}

/* The index view service's table (strata/index.h). */
__attribute__((visibility("default"))) size_t strata_abi_probe_index(const strata_index_api *api);
__attribute__((visibility("default"))) size_t strata_abi_probe_index(const strata_index_api *api)
{
    return api ? sizeof *api : 0;
}

/* The search service's table (strata/search.h). */
__attribute__((visibility("default"))) size_t
strata_abi_probe_search(const strata_search_api *api, const strata_search_answer *answer);
__attribute__((visibility("default"))) size_t
strata_abi_probe_search(const strata_search_api *api, const strata_search_answer *answer)
{
    return (api ? sizeof *api : 0) + (answer ? sizeof *answer : 0);
}
