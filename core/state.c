/*
 * core/state.c - durable plugin state files (see state.h).
 *
 * File format v1: u32 magic "STS1" | u16 version | u16 reserved |
 * u32 value_len | u32 crc32c(value) | value bytes. Little-endian.
 */
#include "state.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core_limits.h"
#include "crc32c.h"
#include "fsutil.h"
#include "strata/abi.h"

#define STATE_MAGIC 0x31535453u /* "STS1" */
#define STATE_VERSION 1
#define STATE_HEADER 16

/* 1 for a state key: 1 to STATE_MAX_KEY of [A-Za-z0-9._-], not starting with '.'. */
static int key_ok(const char *k)
{
    size_t n = strlen(k);
    if (n == 0 || n > STATE_MAX_KEY || k[0] == '.')
        return 0;
    for (; *k; k++)
        if (!((*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z') || (*k >= '0' && *k <= '9') ||
              *k == '.' || *k == '_' || *k == '-'))
            return 0;
    return 1;
}

int state_put(const char *data_dir, const char *pipeline, const char *instance, const char *key,
              const void *val, size_t len)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/state/%s/%s", data_dir, pipeline, instance);
    return state_file_put(dir, key, val, len);
}

int state_get(const char *data_dir, const char *pipeline, const char *instance, const char *key,
              void *buf, size_t cap, size_t *len)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/state/%s/%s", data_dir, pipeline, instance);
    return state_file_get(dir, key, buf, cap, len);
}

/* Write KEY in dir atomically (see state.h). */
int state_file_put(const char *dir_in, const char *key, const void *val, size_t len)
{
    if (!key_ok(key) || len > STATE_MAX_VALUE || (len && !val))
        return STRATA_EINVAL;
    char dir[4096], tmp[4200], path[4200];
    snprintf(dir, sizeof dir, "%s", dir_in);
    if (fs_mkdirs(dir) != 0)
        return STRATA_ERR;
    snprintf(path, sizeof path, "%s/%s", dir, key);
    snprintf(tmp, sizeof tmp, "%s/.%s.tmp", dir, key);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0)
        return STRATA_ERR;
    uint8_t h[STATE_HEADER];
    uint32_t magic = STATE_MAGIC, l32 = (uint32_t)len, crc = crc32c(0, val, len);
    uint16_t ver = STATE_VERSION, zero = 0;
    memcpy(h, &magic, 4);
    memcpy(h + 4, &ver, 2);
    memcpy(h + 6, &zero, 2);
    memcpy(h + 8, &l32, 4);
    memcpy(h + 12, &crc, 4);
    if (fs_write_all(fd, h, sizeof h) || fs_write_all(fd, val, len) || fsync(fd) != 0) {
        close(fd);
        unlink(tmp);
        return STRATA_ERR;
    }
    close(fd);
    if (rename(tmp, path) != 0) {
        unlink(tmp);
        return STRATA_ERR;
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return STRATA_OK;
}

/* Read KEY from dir, verifying its checksum (see state.h). */
int state_file_get(const char *dir, const char *key, void *buf, size_t cap, size_t *len)
{
    if (!key_ok(key))
        return STRATA_EINVAL;
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, key);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? STRATA_ENOTFOUND : STRATA_ERR;
    uint8_t h[STATE_HEADER];
    ssize_t n = read(fd, h, sizeof h);
    uint32_t magic, l32, crc;
    uint16_t ver;
    if (n != STATE_HEADER) {
        close(fd);
        return STRATA_EINVAL;
    }
    memcpy(&magic, h, 4);
    memcpy(&ver, h + 4, 2);
    memcpy(&l32, h + 8, 4);
    memcpy(&crc, h + 12, 4);
    if (magic != STATE_MAGIC || ver != STATE_VERSION || l32 > STATE_MAX_VALUE) {
        close(fd);
        return STRATA_EINVAL;
    }
    if (len)
        *len = l32;
    if (l32 > cap) {
        close(fd);
        return STRATA_ERANGE;
    }
    size_t got = 0;
    while (got < l32) {
        ssize_t r = read(fd, (char *)buf + got, l32 - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    if (got != l32 || crc32c(0, buf, l32) != crc)
        return STRATA_EINVAL;
    return STRATA_OK;
}
