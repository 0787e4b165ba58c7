/*
 * core/loader.c - find plugin shared objects, dlopen them, check their ABI.
 *
 * Thread: the loop thread.
 */
#include "loader.h"

#include <dirent.h>
#include <dlfcn.h>
#include <elf.h>
#include <limits.h>
#include <link.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "config_keys.h"
#include "log.h"

/* The v1.0 descriptor ends with `flush`; anything shorter is not v1. */
#define DESC_MIN_SIZE (offsetof(strata_plugin, flush) + sizeof(((strata_plugin *)0)->flush))
/* The v1.0 config key ends with `doc`. */
#define KEY_MIN_SIZE (offsetof(strata_config_key, doc) + sizeof(const char *))

/* Add a plugin directory to the search path (at its front with `front`), once; -1 on OOM. */
static int add_dir(loader *ld, const char *dir, int front)
{
    if (!dir || !*dir)
        return 0;
    for (size_t i = 0; i < ld->ndirs; i++)
        if (strcmp(ld->dirs[i], dir) == 0)
            return 0;
    char **d = realloc(ld->dirs, (ld->ndirs + 1) * sizeof *d);
    if (!d)
        return -1;
    ld->dirs = d;
    char *copy = strdup(dir);
    if (!copy)
        return -1;
    if (front) {
        memmove(d + 1, d, ld->ndirs * sizeof *d);
        d[0] = copy;
    } else {
        d[ld->ndirs] = copy;
    }
    ld->ndirs++;
    return 0;
}

/* Directory of the running binary (from /proc/self/exe, else argv0). */
static int exe_dir(const char *argv0, char *out, size_t cap)
{
    char buf[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n > 0) {
        buf[n] = 0;
    } else if (argv0 && realpath(argv0, buf)) {
        /* fine */
    } else {
        return -1;
    }
    char *slash = strrchr(buf, '/');
    if (!slash || (size_t)(slash - buf) >= cap)
        return -1;
    *slash = 0;
    memcpy(out, buf, (size_t)(slash - buf) + 1);
    return 0;
}

loader *loader_new(const char *argv0)
{
    loader *ld = calloc(1, sizeof *ld);
    if (!ld)
        return NULL;
    const char *env = getenv("STRATA_PLUGIN_PATH");
    if (env) {
        char *copy = strdup(env), *save = NULL;
        if (!copy) {
            free(ld);
            return NULL;
        }
        for (char *t = strtok_r(copy, ":", &save); t; t = strtok_r(NULL, ":", &save))
            add_dir(ld, t, 0);
        free(copy);
    }
    char dir[PATH_MAX];
    if (exe_dir(argv0, dir, sizeof dir) == 0) {
        char p[PATH_MAX + 32];
        snprintf(p, sizeof p, "%s/plugins", dir);
        add_dir(ld, p, 0);
        snprintf(p, sizeof p, "%s/../lib/strata/plugins", dir);
        add_dir(ld, p, 0);
    }
    return ld;
}

void loader_free(loader *ld)
{
    if (!ld)
        return;
    loaded_plugin *lp = ld->loaded;
    while (lp) {
        loaded_plugin *n = lp->next;
        /* Under sanitizers, keep the code mapped so leak reports can still
         * symbolize frames inside plugins. */
#ifndef STRATA_NO_DLCLOSE
        dlclose(lp->handle);
#endif
        free(lp->path);
        free(lp);
        lp = n;
    }
    for (size_t i = 0; i < ld->ndirs; i++)
        free(ld->dirs[i]);
    free(ld->dirs);
    free(ld);
}

int loader_prepend_dirs(loader *ld, char *const *dirs, size_t n, const char *base_dir)
{
    for (size_t i = n; i-- > 0;) {
        char p[2 * PATH_MAX + 2];
        if (dirs[i][0] == '/' || !base_dir)
            snprintf(p, sizeof p, "%s", dirs[i]);
        else
            snprintf(p, sizeof p, "%s/%s", base_dir, dirs[i]);
        if (add_dir(ld, p, 1))
            return -1;
    }
    return 0;
}

/* 1 for a plugin name: 1 to 64 of [a-z0-9_]. */
static int name_ok(const char *s)
{
    if (!s || !*s || strlen(s) > 64)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return 0;
    return 1;
}

/* The ABI 1.4 rules of a descriptor: each names a declared key, and its
 * bounds are values of that key's type. 0, or -1 with err set. */
static int check_rules(const strata_plugin *d, const char *path, char *err, size_t errlen)
{
    if (d->config_rule_count > 256) {
        snprintf(err, errlen, "%s: plugin '%s' declares %u config rules; at most 256", path,
                 d->name, d->config_rule_count);
        return -1;
    }
    const strata_config_rule *r;
    for (uint32_t i = 0; (r = cfg_rule_at(d, i)); i++) {
        const strata_config_key *k = NULL;
        for (uint32_t j = 0; r->key && j < d->config_count && !k; j++) {
            const strata_config_key *c =
                (const void *)((const char *)d->config + (size_t)j * d->config_key_size);
            if (strcmp(c->name, r->key) == 0)
                k = c;
        }
        if (!k) {
            snprintf(err, errlen,
                     "%s: plugin '%s' has a config rule for '%s', which it does not "
                     "declare as a key",
                     path, d->name, r->key ? r->key : "(null)");
            return -1;
        }
        double b;
        if ((r->min && cfg_scalar_number(k->type, r->min, &b) != 0) ||
            (r->max && cfg_scalar_number(k->type, r->max, &b) != 0)) {
            snprintf(err, errlen,
                     "%s: plugin '%s' config key '%s' has a bound that is not a value of its "
                     "type (min '%s', max '%s')",
                     path, d->name, k->name, r->min ? r->min : "", r->max ? r->max : "");
            return -1;
        }
    }
    return 0;
}

int loader_check_descriptor(const strata_plugin *d, const char *path, char *err, size_t errlen)
{
    if (!d) {
        snprintf(err, errlen, "%s: %s() returned no descriptor", path, STRATA_PLUGIN_ENTRY_SYMBOL);
        return -1;
    }
    if (d->abi_major != STRATA_ABI_MAJOR) {
        snprintf(err, errlen,
                 "%s: plugin was built for Strata plugin ABI %u.%u, this host speaks ABI %d.%d;"
                 " rebuild the plugin against the Strata %d.x SDK",
                 path, d->abi_major, d->abi_minor, STRATA_ABI_MAJOR, STRATA_ABI_MINOR,
                 STRATA_ABI_MAJOR);
        return -1;
    }
    /* Same major: the layout up to the v1.0 end is known, names are safe. */
    const char *nm = d->struct_size >= DESC_MIN_SIZE && d->name ? d->name : "?";
    if (d->abi_minor > STRATA_ABI_MINOR) {
        snprintf(err, errlen,
                 "%s: plugin '%s' needs Strata plugin ABI %u.%u, this host speaks ABI %d.%d;"
                 " upgrade Strata or rebuild the plugin against this SDK",
                 path, nm, d->abi_major, d->abi_minor, STRATA_ABI_MAJOR, STRATA_ABI_MINOR);
        return -1;
    }
    if (d->struct_size < DESC_MIN_SIZE) {
        snprintf(err, errlen,
                 "%s: plugin descriptor is %u bytes, smaller than ABI %d.0's %zu; it was not"
                 " built with the Strata SDK headers",
                 path, d->struct_size, STRATA_ABI_MAJOR, (size_t)DESC_MIN_SIZE);
        return -1;
    }
    if (!name_ok(d->name)) {
        snprintf(err, errlen, "%s: plugin name '%s' must be 1-64 of [a-z0-9_]", path,
                 d->name ? d->name : "(null)");
        return -1;
    }
    if (d->kind < STRATA_KIND_INPUT || d->kind > STRATA_KIND_STORE) {
        snprintf(err, errlen, "%s: plugin '%s' has unknown kind %u", path, d->name, d->kind);
        return -1;
    }
    if (!d->init || !d->destroy) {
        snprintf(err, errlen, "%s: plugin '%s' lacks the required init or destroy callback", path,
                 d->name);
        return -1;
    }
    if (d->kind == STRATA_KIND_FILTER && !d->process) {
        snprintf(err, errlen, "%s: filter plugin '%s' lacks its process callback", path, d->name);
        return -1;
    }
    if (d->kind == STRATA_KIND_OUTPUT && !d->flush) {
        snprintf(err, errlen, "%s: output plugin '%s' lacks its flush callback", path, d->name);
        return -1;
    }
    if (d->config_count && (!d->config || d->config_key_size < KEY_MIN_SIZE)) {
        snprintf(err, errlen, "%s: plugin '%s' declares %u config keys but no valid key table",
                 path, d->name, d->config_count);
        return -1;
    }
    if (d->config_count > 256) {
        snprintf(err, errlen, "%s: plugin '%s' declares %u config keys; at most 256", path, d->name,
                 d->config_count);
        return -1;
    }
    for (uint32_t i = 0; i < d->config_count; i++) {
        const strata_config_key *k =
            (const strata_config_key *)((const char *)d->config + (size_t)i * d->config_key_size);
        if (!k->name || !*k->name || k->type < STRATA_CFG_STRING || k->type > STRATA_CFG_MAP) {
            snprintf(err, errlen, "%s: plugin '%s' config key #%u has no name or a bad type", path,
                     d->name, i);
            return -1;
        }
        if (cfg_is_common_key((int)d->kind, k->name)) {
            snprintf(err, errlen,
                     "%s: plugin '%s' declares config key '%s', which the host reads on "
                     "every %s itself; rename it",
                     path, d->name, k->name, kind_name((int)d->kind));
            return -1;
        }
    }
    return check_rules(d, path, err, errlen);
}

/* The ELF types of this process's word size (ElfW spelled out). */
#if UINTPTR_MAX > 0xffffffffu
typedef Elf64_Addr elf_addr;
typedef Elf64_Dyn elf_dyn;
typedef Elf64_Sym elf_sym;
#define ELF_BIND(i) ELF64_ST_BIND(i)
#define ELF_VISIBILITY(o) ELF64_ST_VISIBILITY(o)
#else
typedef Elf32_Addr elf_addr;
typedef Elf32_Dyn elf_dyn;
typedef Elf32_Sym elf_sym;
#define ELF_BIND(i) ELF32_ST_BIND(i)
#define ELF_VISIBILITY(o) ELF32_ST_VISIBILITY(o)
#endif

/* Where a pointer of a loaded object's dynamic section points: the
 * dynamic linker has relocated most of them to absolute addresses, some
 * architectures leave them relative to the load address. */
static const void *dyn_ptr(const struct link_map *m, elf_addr p)
{
    return (const void *)(p < m->l_addr ? m->l_addr + p : p);
}

/* How many symbols the GNU hash table at h covers (symbol indexes below
 * the result): the end of the longest chain, or its first hashed index
 * when no bucket holds one. */
static size_t gnu_hash_symbols(const uint32_t *h)
{
    uint32_t nbuckets = h[0], symoffset = h[1], bloom_words = h[2];
    const uint32_t *buckets = h + 4 + (size_t)bloom_words * (sizeof(elf_addr) / 4);
    const uint32_t *chain = buckets + nbuckets;
    size_t end = symoffset;
    for (uint32_t b = 0; b < nbuckets; b++) {
        uint32_t i = buckets[b];
        if (i < symoffset)
            continue;
        while (!(chain[i - symoffset] & 1))
            i++;
        if ((size_t)i + 1 > end)
            end = (size_t)i + 1;
    }
    return end;
}

/* The symbols a loaded plugin exports (defined, global or weak, visible):
 * their count, and in *extra the name of one that is not the entry symbol
 * (NULL when none). The host looks up only the entry; anything else a
 * plugin exports can clash with the host's or another plugin's symbols
 * (sdk/cmake/strata-plugin.map hides them). -1 when the dynamic section
 * cannot be read. */
static int count_exports(void *h, const char **extra)
{
    struct link_map *m = NULL;
    *extra = NULL;
    if (dlinfo(h, RTLD_DI_LINKMAP, &m) != 0 || !m || !m->l_ld)
        return -1;
    const elf_sym *syms = NULL;
    const char *strs = NULL;
    size_t nsyms = 0;
    for (const elf_dyn *d = m->l_ld; d->d_tag != DT_NULL; d++) {
        if (d->d_tag == DT_SYMTAB)
            syms = dyn_ptr(m, d->d_un.d_ptr);
        else if (d->d_tag == DT_STRTAB)
            strs = dyn_ptr(m, d->d_un.d_ptr);
        else if (d->d_tag == DT_HASH)
            nsyms = ((const uint32_t *)dyn_ptr(m, d->d_un.d_ptr))[1];
        else if (d->d_tag == DT_GNU_HASH && !nsyms)
            nsyms = gnu_hash_symbols(dyn_ptr(m, d->d_un.d_ptr));
    }
    if (!syms || !strs)
        return -1;
    int n = 0;
    for (size_t i = 1; i < nsyms; i++) {
        const elf_sym *s = &syms[i];
        int bind = ELF_BIND(s->st_info), vis = ELF_VISIBILITY(s->st_other);
        if (s->st_shndx == SHN_UNDEF || (bind != STB_GLOBAL && bind != STB_WEAK) ||
            (vis != STV_DEFAULT && vis != STV_PROTECTED))
            continue;
        n++;
        if (strcmp(strs + s->st_name, STRATA_PLUGIN_ENTRY_SYMBOL) != 0 && !*extra)
            *extra = strs + s->st_name;
    }
    return n;
}

/* Split a plugin file's name, strata_KIND_NAME.so, into its kind and name
 * (name up to 64 bytes): 0, or -1 when it is not named so. */
static int parse_file_name(const char *path, int *kind, char *name, size_t cap)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t len = strlen(base);
    if (strncmp(base, "strata_", 7) != 0 || len < 11 || strcmp(base + len - 3, ".so") != 0)
        return -1;
    for (int k = STRATA_KIND_INPUT; k <= STRATA_KIND_STORE; k++) {
        const char *kn = kind_name(k);
        size_t kl = strlen(kn), nl = len - 7 - kl - 1 - 3;
        if (len > 7 + kl + 1 + 3 && strncmp(base + 7, kn, kl) == 0 && base[7 + kl] == '_' &&
            nl < cap) {
            memcpy(name, base + 7 + kl + 1, nl);
            name[nl] = 0;
            *kind = k;
            return 0;
        }
    }
    return -1;
}

const loaded_plugin *loader_open(loader *ld, const char *path, char *err, size_t errlen)
{
    char real[PATH_MAX];
    if (!realpath(path, real)) {
        snprintf(err, errlen, "%s: no such plugin file", path);
        return NULL;
    }
    for (loaded_plugin *lp = ld->loaded; lp; lp = lp->next)
        if (strcmp(lp->path, real) == 0)
            return lp;
    void *h = dlopen(real, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(err, errlen, "%s: cannot load: %s", real, dlerror());
        return NULL;
    }
    strata_plugin_entry_fn entry;
    *(void **)(&entry) = dlsym(h, STRATA_PLUGIN_ENTRY_SYMBOL);
    if (!entry) {
        snprintf(err, errlen, "%s: not a Strata plugin: it does not export %s()", real,
                 STRATA_PLUGIN_ENTRY_SYMBOL);
        dlclose(h);
        return NULL;
    }
    const strata_plugin *d = entry();
    if (loader_check_descriptor(d, real, err, errlen) != 0) {
        dlclose(h);
        return NULL;
    }
    /* a plugin is only ever what its file's name says: an impostor (filter
     * 'ql' saying it is filter 'quota') must not stand in for another */
    int fkind;
    char fname[80];
    if (parse_file_name(real, &fkind, fname, sizeof fname) != 0) {
        snprintf(err, errlen, "%s: a plugin file is named strata_KIND_NAME.so (for %s '%s': %s)",
                 real, kind_name((int)d->kind), d->name, plugin_file_name((int)d->kind, d->name));
        dlclose(h);
        return NULL;
    }
    if (fkind != (int)d->kind || strcmp(fname, d->name) != 0) {
        snprintf(err, errlen,
                 "%s: file is named for %s '%s' but the plugin says it is %s '%s'; not loaded",
                 real, kind_name(fkind), fname, kind_name((int)d->kind), d->name);
        dlclose(h);
        return NULL;
    }
    loaded_plugin *lp = calloc(1, sizeof *lp);
    if (!lp || !(lp->path = strdup(real))) {
        free(lp);
        dlclose(h);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    lp->handle = h;
    lp->desc = d;
    lp->exports = count_exports(h, &lp->extra_export);
    if (lp->exports > 1)
        log_warn("%s: the plugin exports %d symbols, %s among them; the host needs only %s()"
                 " (link it with the SDK's strata-plugin.map)",
                 real, lp->exports, lp->extra_export, STRATA_PLUGIN_ENTRY_SYMBOL);
    lp->next = ld->loaded;
    ld->loaded = lp;
    return lp;
}

const char *plugin_file_name(int kind, const char *name)
{
    static _Thread_local char file[128];
    snprintf(file, sizeof file, "strata_%s_%s.so", kind_name(kind), name);
    return file;
}

const loaded_plugin *loader_get(loader *ld, int kind, const char *name, char *err, size_t errlen)
{
    if (!name_ok(name)) {
        snprintf(err, errlen, "plugin name '%s' is invalid (use [a-z0-9_])", name);
        return NULL;
    }
    char file[128];
    snprintf(file, sizeof file, "%s", plugin_file_name(kind, name));
    for (size_t i = 0; i < ld->ndirs; i++) {
        char p[PATH_MAX + 160], first[PATH_MAX];
        snprintf(p, sizeof p, "%s/%s", ld->dirs[i], file);
        if (!realpath(p, first))
            continue;
        /* the first in search order is the plugin; another file of that
         * name further on is an error, named, so that which code runs never
         * depends on an order nobody looked at */
        for (size_t j = i + 1; j < ld->ndirs; j++) {
            char q[PATH_MAX + 160], other[PATH_MAX];
            snprintf(q, sizeof q, "%s/%s", ld->dirs[j], file);
            if (realpath(q, other) && strcmp(first, other) != 0) {
                snprintf(err, errlen, "%s '%s' is in two files, %s and %s: remove one",
                         kind_name(kind), name, first, other);
                return NULL;
            }
        }
        return loader_open(ld, first, err, errlen); /* the loaded one when already loaded */
    }
    size_t off = (size_t)snprintf(err, errlen, "unknown %s plugin '%s': no %s in", kind_name(kind),
                                  name, file);
    for (size_t i = 0; i < ld->ndirs && off < errlen; i++)
        off += (size_t)snprintf(err + off, errlen - off, "%s %s", i ? "," : "", ld->dirs[i]);
    if (!ld->ndirs && off < errlen)
        snprintf(err + off, errlen - off, " (no plugin directories)");
    return NULL;
}

int loader_scan(loader *ld)
{
    int n = 0;
    for (size_t i = 0; i < ld->ndirs; i++) {
        DIR *d = opendir(ld->dirs[i]);
        if (!d)
            continue;
        struct dirent *e;
        while ((e = readdir(d))) {
            size_t len = strlen(e->d_name);
            if (strncmp(e->d_name, "strata_", 7) != 0 || len < 4 ||
                strcmp(e->d_name + len - 3, ".so") != 0)
                continue;
            char p[PATH_MAX + 260], err[1024];
            snprintf(p, sizeof p, "%s/%s", ld->dirs[i], e->d_name);
            if (loader_open(ld, p, err, sizeof err))
                n++;
            else
                log_warn("%s", err);
        }
        closedir(d);
    }
    return n;
}
