/*
 * imapops test shim: make statvfs(3)/statfs(2) report configured sizes for chosen paths.
 *
 * Copyright: imapops developers
 * GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
 *
 * Loaded with LD_PRELOAD into Cyrus (master passes it on to every imapd) or into any
 * other program. It is compiled by the tests (tests/differential/shim.py); never commit
 * the binary.
 *
 * $IMAPOPS_STATVFS_SHIM names a configuration file, read again at every call (so a test
 * can change the figures between two calls, even inside one process). One rule a line,
 * fields separated by blanks, '#' starts a comment line:
 *
 *     <path> <f_blocks> <f_bavail> <f_bfree> <f_frsize> <f_fsid>
 *     <path> errno <number or name>          e.g.  /srv/p1 errno ESTALE
 *
 * A rule applies to <path> itself and to everything below it (prefix + '/'); the longest
 * matching rule wins. Paths are compared as given (no symlink resolution) and cannot
 * contain blanks. A figures rule returns success with those figures (f_bsize is set to
 * f_frsize; the other fields come from the real call when it succeeds, else 0); an errno
 * rule returns -1 with that errno. Paths without a rule go to the real call untouched.
 *
 * $IMAPOPS_STATVFS_SHIM_LOG, when set, names a file to which every call is appended as
 * "<pid> <function> <path> <fake|errno|real>\n" (one write(2) per line, so lines from
 * concurrent processes do not mix). Tests use it to see which paths a process measured
 * and in which order.
 *
 * Overridden: statvfs, statvfs64, fstatvfs, fstatvfs64, statfs, statfs64, fstatfs,
 * fstatfs64. The Debian build of Cyrus 3.6.1 only imports statvfs (nm -D); the others
 * are here for other programs (Python's os.statvfs/os.fstatvfs, df, ...). An fd is
 * matched through the path /proc/self/fd/<fd> points to.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <unistd.h>

#define SHIM_MAX_CONF (1 << 20)

enum shim_kind { SHIM_REAL = 0, SHIM_FIGURES = 1, SHIM_ERRNO = 2 };

struct shim_rule {
    enum shim_kind kind;
    unsigned long long blocks, bavail, bfree, frsize, fsid;
    int error;
};

static const struct { const char *name; int value; } shim_errnos[] = {
    {"EPERM", EPERM}, {"ENOENT", ENOENT}, {"EINTR", EINTR}, {"EIO", EIO},
    {"ENOMEM", ENOMEM}, {"EACCES", EACCES}, {"EFAULT", EFAULT}, {"ENOTDIR", ENOTDIR},
    {"EINVAL", EINVAL}, {"ENAMETOOLONG", ENAMETOOLONG}, {"ENOSYS", ENOSYS},
    {"ELOOP", ELOOP}, {"EOVERFLOW", EOVERFLOW}, {"ESTALE", ESTALE},
    {"ETIMEDOUT", ETIMEDOUT}, {"ENOTCONN", ENOTCONN}, {"EHOSTDOWN", EHOSTDOWN},
    {"ENODEV", ENODEV}, {"ENXIO", ENXIO}, {"EBADF", EBADF},
};

static int shim_parse_errno(const char *text)
{
    char *end;
    long value;
    size_t i;

    for (i = 0; i < sizeof shim_errnos / sizeof shim_errnos[0]; i++)
        if (!strcmp(text, shim_errnos[i].name))
            return shim_errnos[i].value;
    value = strtol(text, &end, 10);
    if (end != text && *end == '\0' && value > 0 && value < 4096)
        return (int)value;
    return EIO; /* an unknown name still fails, loudly enough for a test to notice */
}

static int shim_prefix_match(const char *path, const char *prefix, size_t length)
{
    while (length > 1 && prefix[length - 1] == '/')
        length--; /* "/srv/p1/" covers "/srv/p1" */
    if (strncmp(path, prefix, length) != 0)
        return 0;
    return path[length] == '\0' || path[length] == '/' || (length == 1 && prefix[0] == '/');
}

/* Read the rule file and find the longest rule for path; SHIM_REAL when none applies. */
static struct shim_rule shim_lookup(const char *path)
{
    struct shim_rule found = {SHIM_REAL, 0, 0, 0, 0, 0, 0};
    const char *conf = getenv("IMAPOPS_STATVFS_SHIM");
    size_t best = 0, used = 0;
    char *text, *line, *next;
    int fd, saved = errno;
    ssize_t got;

    if (!conf || !*conf || !path)
        return found;
    fd = open(conf, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        errno = saved;
        return found;
    }
    text = malloc(SHIM_MAX_CONF + 1);
    if (!text) {
        close(fd);
        errno = saved;
        return found;
    }
    while (used < SHIM_MAX_CONF && (got = read(fd, text + used, SHIM_MAX_CONF - used)) > 0)
        used += (size_t)got;
    close(fd);
    text[used] = '\0';

    for (line = text; line && *line; line = next) {
        char *field[7];
        int count = 0;
        char *cursor;
        size_t length;

        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        for (cursor = line; count < 7;) {
            while (*cursor && isspace((unsigned char)*cursor))
                cursor++;
            if (!*cursor)
                break;
            field[count++] = cursor;
            while (*cursor && !isspace((unsigned char)*cursor))
                cursor++;
            if (*cursor)
                *cursor++ = '\0';
        }
        if (count == 0 || field[0][0] == '#')
            continue;
        length = strlen(field[0]);
        if (!shim_prefix_match(path, field[0], length) || length < best)
            continue;
        if (count == 3 && !strcmp(field[1], "errno")) {
            best = length;
            found.kind = SHIM_ERRNO;
            found.error = shim_parse_errno(field[2]);
        }
        else if (count == 6) {
            best = length;
            found.kind = SHIM_FIGURES;
            found.blocks = strtoull(field[1], NULL, 0);
            found.bavail = strtoull(field[2], NULL, 0);
            found.bfree = strtoull(field[3], NULL, 0);
            found.frsize = strtoull(field[4], NULL, 0);
            found.fsid = strtoull(field[5], NULL, 0);
        }
        /* malformed lines are ignored */
    }
    free(text);
    errno = saved;
    return found;
}

static void shim_log(const char *function, const char *path, const struct shim_rule *rule)
{
    const char *log = getenv("IMAPOPS_STATVFS_SHIM_LOG");
    char line[PATH_MAX + 128];
    int fd, length, saved = errno;

    if (!log || !*log)
        return;
    length = snprintf(line, sizeof line, "%d %s %s %s\n", (int)getpid(), function,
                      path ? path : "-",
                      rule->kind == SHIM_FIGURES ? "fake" : rule->kind == SHIM_ERRNO ? "errno" : "real");
    if (length <= 0 || length >= (int)sizeof line)
        length = (int)strlen(line);
    fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
    if (fd >= 0) {
        ssize_t written = write(fd, line, (size_t)length);
        (void)written;
        close(fd);
    }
    errno = saved;
}

/* The path an fd refers to, or NULL. */
static const char *shim_fd_path(int fd, char *buffer, size_t size)
{
    char link[64];
    ssize_t length;

    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    length = readlink(link, buffer, size - 1);
    if (length < 0)
        return NULL;
    buffer[length] = '\0';
    return buffer;
}

static void *shim_next(const char *name)
{
    void *function = dlsym(RTLD_NEXT, name);
    if (!function)
        errno = ENOSYS;
    return function;
}

/* The same figures in every result type; fsid as glibc folds statfs's two ints. */
#define SHIM_FILL_VFS(buf, rule)                                            \
    do {                                                                    \
        (buf)->f_bsize = (rule).frsize;                                     \
        (buf)->f_frsize = (rule).frsize;                                    \
        (buf)->f_blocks = (rule).blocks;                                    \
        (buf)->f_bfree = (rule).bfree;                                      \
        (buf)->f_bavail = (rule).bavail;                                    \
        (buf)->f_fsid = (unsigned long)(rule).fsid;                         \
    } while (0)

#define SHIM_FILL_FS(buf, rule)                                             \
    do {                                                                    \
        (buf)->f_bsize = (rule).frsize;                                     \
        (buf)->f_frsize = (rule).frsize;                                    \
        (buf)->f_blocks = (rule).blocks;                                    \
        (buf)->f_bfree = (rule).bfree;                                      \
        (buf)->f_bavail = (rule).bavail;                                    \
        (buf)->f_fsid.__val[0] = (int)((rule).fsid & 0xffffffffULL);        \
        (buf)->f_fsid.__val[1] = (int)(((rule).fsid >> 32) & 0xffffffffULL); \
    } while (0)

/* One body for all eight functions: rule lookup, real call, then the override. */
#define SHIM_BODY(NAME, TYPE, ARG, PATH, FILL)                              \
    do {                                                                    \
        int (*real)(__typeof__(ARG), TYPE *) =                              \
            (int (*)(__typeof__(ARG), TYPE *))shim_next(NAME);              \
        struct shim_rule rule = shim_lookup(PATH);                          \
        int result;                                                         \
        shim_log(NAME, PATH, &rule);                                        \
        if (rule.kind == SHIM_ERRNO) {                                      \
            errno = rule.error;                                             \
            return -1;                                                      \
        }                                                                   \
        result = real ? real(ARG, buf) : -1;                                \
        if (rule.kind == SHIM_REAL)                                         \
            return result;                                                  \
        if (result != 0)                                                    \
            memset(buf, 0, sizeof *buf);                                    \
        FILL(buf, rule);                                                    \
        return 0;                                                           \
    } while (0)

int statvfs(const char *path, struct statvfs *buf)
{
    SHIM_BODY("statvfs", struct statvfs, path, path, SHIM_FILL_VFS);
}

int statvfs64(const char *path, struct statvfs64 *buf)
{
    SHIM_BODY("statvfs64", struct statvfs64, path, path, SHIM_FILL_VFS);
}

int statfs(const char *path, struct statfs *buf)
{
    SHIM_BODY("statfs", struct statfs, path, path, SHIM_FILL_FS);
}

int statfs64(const char *path, struct statfs64 *buf)
{
    SHIM_BODY("statfs64", struct statfs64, path, path, SHIM_FILL_FS);
}

int fstatvfs(int fd, struct statvfs *buf)
{
    char target[PATH_MAX];
    const char *path = shim_fd_path(fd, target, sizeof target);
    SHIM_BODY("fstatvfs", struct statvfs, fd, path, SHIM_FILL_VFS);
}

int fstatvfs64(int fd, struct statvfs64 *buf)
{
    char target[PATH_MAX];
    const char *path = shim_fd_path(fd, target, sizeof target);
    SHIM_BODY("fstatvfs64", struct statvfs64, fd, path, SHIM_FILL_VFS);
}

int fstatfs(int fd, struct statfs *buf)
{
    char target[PATH_MAX];
    const char *path = shim_fd_path(fd, target, sizeof target);
    SHIM_BODY("fstatfs", struct statfs, fd, path, SHIM_FILL_FS);
}

int fstatfs64(int fd, struct statfs64 *buf)
{
    char target[PATH_MAX];
    const char *path = shim_fd_path(fd, target, sizeof target);
    SHIM_BODY("fstatfs64", struct statfs64, fd, path, SHIM_FILL_FS);
}
