/*
 * cli/boot.c - what `strata run`, `strata serve` and `strata compact` do
 * alike before their engine runs: the config loaded and checked, the
 * log set up, SIGPIPE ignored, the engine created and started.
 */
#include "boot.h"

#include <signal.h>
#include <stdio.h>

#include <ev.h>

#include "config.h"
#include "engine.h"
#include "log.h"

struct engine *cli_engine_start(const char *path, struct loader *ld, const char *who,
                                int *exit_code)
{
    *exit_code = 2;
    config *cfg = config_load_or_print(path, ld, who);
    if (!cfg)
        return NULL;
    int lvl = log_level_parse(cfg->svc.log_level);
    if (lvl >= 0)
        log_set_level(lvl);
    if (cfg->svc.log_file[0] && log_set_file(cfg->svc.log_file) != 0) {
        fprintf(stderr, "%s: cannot open log_file %s\n", who, cfg->svc.log_file);
        config_free(cfg);
        return NULL;
    }
    signal(SIGPIPE, SIG_IGN);
    *exit_code = 1;
    engine *eng = engine_new(ev_default_loop(EVFLAG_AUTO), ld, cfg, path);
    if (!eng) {
        config_free(cfg);
        return NULL;
    }
    if (engine_start(eng) != 0) {
        engine_free(eng);
        return NULL;
    }
    *exit_code = 0;
    return eng;
}
