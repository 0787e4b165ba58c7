/*
 * segment/walk.c - visiting the files of a directory tree: `strata inspect`
 * finds segments with it, the indexer finds orphans and dictionaries.
 */
#include <dirent.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "segment.h"

/* Visit dir/rel: recurse into directories up to max_depth, call fn on files. */
static void walk_in(const char *root, const char *rel, int depth, int max_depth, seg_walk_fn fn,
                    void *ud)
{
    char abs[8192];
    if ((size_t)snprintf(abs, sizeof abs, "%s%s%s", root, rel[0] ? "/" : "", rel) >= sizeof abs)
        return;
    DIR *d = opendir(abs);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue; /* ., .., and hidden files: never ours */
        char r2[4096], a2[8192];
        if ((size_t)snprintf(r2, sizeof r2, "%s%s%s", rel, rel[0] ? "/" : "", e->d_name) >=
                sizeof r2 ||
            (size_t)snprintf(a2, sizeof a2, "%s/%s", root, r2) >= sizeof a2)
            continue;
        struct stat st;
        if (lstat(a2, &st) < 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            if (depth < max_depth)
                walk_in(root, r2, depth + 1, max_depth, fn, ud);
        } else if (S_ISREG(st.st_mode)) {
            fn(ud, a2, r2, e->d_name);
        }
    }
    closedir(d);
}

void seg_walk(const char *root, int max_depth, seg_walk_fn fn, void *ud)
{
    walk_in(root, "", 0, max_depth, fn, ud);
}

int seg_has_suffix(const char *name, const char *suffix)
{
    size_t n = strlen(name), k = strlen(suffix);
    return n > k && strcmp(name + n - k, suffix) == 0;
}

void seg_dicts_load_near(seg_dicts *d, const char *file)
{
    const char *env = getenv("STRATA_DICTS");
    if (env) {
        seg_dicts_load_dir(d, env);
        return;
    }
    char root[4096];
    snprintf(root, sizeof root, "%s", file);
    for (int up = 0; up < 4; up++) {
        char *slash = strrchr(root, '/');
        if (!slash)
            return;
        *slash = 0;
        char probe[4200];
        snprintf(probe, sizeof probe, "%s/dicts", root);
        struct stat st;
        if (stat(probe, &st) == 0 && S_ISDIR(st.st_mode)) {
            seg_dicts_load_tree(d, probe);
            return;
        }
    }
}
