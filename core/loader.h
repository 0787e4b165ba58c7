/*
 * core/loader.h - plugin discovery, dlopen and ABI checks.
 *
 * A plugin of kind K and name N lives in a file named strata_K_N.so in one
 * of the search directories, in this order: service.plugins_dir from the
 * config, $STRATA_PLUGIN_PATH (colon-separated), the `plugins` directory
 * beside the binary, then ../lib/strata/plugins relative to the binary.
 * Loaded plugins stay loaded until loader_free (process exit): instances of
 * a reloaded config share them.
 * Thread: the loop thread.
 */
#ifndef STRATA_CORE_LOADER_H
#define STRATA_CORE_LOADER_H

#include <stddef.h>

#include "strata/plugin.h"

typedef struct loaded_plugin {
    char *path; /* the file, resolved; its name is strata_KIND_NAME.so of desc */
    void *handle;
    const strata_plugin *desc;
    int exports;              /* symbols the file exports (1: the entry only; -1 unknown) */
    const char *extra_export; /* one of them that is not the entry, or NULL */
    struct loaded_plugin *next;
} loaded_plugin;

typedef struct loader {
    char **dirs; /* search order */
    size_t ndirs;
    loaded_plugin *loaded;
} loader;

/* A loader searching the default directories (env, beside argv0). */
loader *loader_new(const char *argv0);
void loader_free(loader *ld);
/* Put extra directories first (from service.plugins_dir); relative ones are
 * taken relative to base_dir. */
int loader_prepend_dirs(loader *ld, char *const *dirs, size_t n, const char *base_dir);
/* Find and load plugin `name` of `kind` from the first search directory
 * holding strata_KIND_NAME.so. Returns NULL and fills err with a sentence
 * naming what was looked for and why it failed, also when another
 * directory holds a second file of that name. */
const loaded_plugin *loader_get(loader *ld, int kind, const char *name, char *err, size_t errlen);
/* Load one .so by path (used by loader_get and `strata plugins`). The
 * file must be named strata_KIND_NAME.so for the plugin's own kind and
 * name; a file that is not is refused and leaves nothing loaded. A plugin
 * exporting more than its entry symbol is loaded with a warning. */
const loaded_plugin *loader_open(loader *ld, const char *path, char *err, size_t errlen);
/* Load every strata_*.so in the search dirs; errors are logged, not fatal.
 * Returns the number loaded. */
int loader_scan(loader *ld);
/* The file name of plugin `name` of `kind`: strata_KIND_NAME.so (a
 * thread-local buffer, valid until the next call). */
const char *plugin_file_name(int kind, const char *name);
/* Check a descriptor against this host's ABI. 0, or -1 with err set. Does
 * not touch any field past abi_minor unless the versions match. */
int loader_check_descriptor(const strata_plugin *d, const char *path, char *err, size_t errlen);

#endif /* STRATA_CORE_LOADER_H */
