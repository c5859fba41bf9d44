/*
 * imapops test helper: print what every statvfs/statfs flavour returns for each path.
 *
 * Copyright: imapops developers
 * GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
 *
 * Compiled by the tests (tests/differential/shim.py) and run with and without the shim
 * preloaded, so the shim can be checked on every entry point it overrides. One line per
 * path and function:
 *
 *     <function> <path> ok <f_blocks> <f_bavail> <f_bfree> <f_frsize> <f_bsize> <fsid>
 *     <function> <path> err <errno>
 *
 * The fsid of the statfs flavours is folded as glibc folds it for statvfs (val[0] in the
 * low 32 bits, val[1] in the high ones), so every line of one path can be compared.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define FOLD(fsid) (((unsigned long long)(unsigned int)(fsid).__val[1] << 32) | (unsigned int)(fsid).__val[0])

#define PRINT_VFS(function, path, rc, s)                                                 \
    do {                                                                                 \
        if (rc == 0)                                                                     \
            printf("%s %s ok %llu %llu %llu %llu %llu %llu\n", function, path,           \
                   (unsigned long long)(s).f_blocks, (unsigned long long)(s).f_bavail,   \
                   (unsigned long long)(s).f_bfree, (unsigned long long)(s).f_frsize,    \
                   (unsigned long long)(s).f_bsize, (unsigned long long)(s).f_fsid);     \
        else                                                                             \
            printf("%s %s err %d\n", function, path, errno);                             \
    } while (0)

#define PRINT_FS(function, path, rc, s)                                                  \
    do {                                                                                 \
        if (rc == 0)                                                                     \
            printf("%s %s ok %llu %llu %llu %llu %llu %llu\n", function, path,           \
                   (unsigned long long)(s).f_blocks, (unsigned long long)(s).f_bavail,   \
                   (unsigned long long)(s).f_bfree, (unsigned long long)(s).f_frsize,    \
                   (unsigned long long)(s).f_bsize, FOLD((s).f_fsid));                   \
        else                                                                             \
            printf("%s %s err %d\n", function, path, errno);                             \
    } while (0)

int main(int argc, char **argv)
{
    int i;

    for (i = 1; i < argc; i++) {
        const char *path = argv[i];
        struct statvfs vfs;
        struct statvfs64 vfs64;
        struct statfs fs;
        struct statfs64 fs64;
        int rc, fd;

        rc = statvfs(path, &vfs);
        PRINT_VFS("statvfs", path, rc, vfs);
        rc = statvfs64(path, &vfs64);
        PRINT_VFS("statvfs64", path, rc, vfs64);
        rc = statfs(path, &fs);
        PRINT_FS("statfs", path, rc, fs);
        rc = statfs64(path, &fs64);
        PRINT_FS("statfs64", path, rc, fs64);

        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            printf("open %s err %d\n", path, errno);
            continue;
        }
        rc = fstatvfs(fd, &vfs);
        PRINT_VFS("fstatvfs", path, rc, vfs);
        rc = fstatvfs64(fd, &vfs64);
        PRINT_VFS("fstatvfs64", path, rc, vfs64);
        rc = fstatfs(fd, &fs);
        PRINT_FS("fstatfs", path, rc, fs);
        rc = fstatfs64(fd, &fs64);
        PRINT_FS("fstatfs64", path, rc, fs64);
        close(fd);
    }
    return 0;
}
