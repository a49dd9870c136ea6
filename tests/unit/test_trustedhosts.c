/*
 * test_trustedhosts.c: TrustedHosts patterns, the list and its file.
 * Every file test works in its own temporary directory.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/error.h"
#include "transport/trustedhosts.h"

static const char *last_message(void)
{
    return winrsh_error_last()->message;
}

/* ------------------------------------------------------------------ */
/* Matching                                                             */

static void test_match_table(void **state)
{
    (void)state;
    static const struct {
        const char *pattern, *host;
        int want;
    } cases[] = {
        /* "*" alone: everything */
        {"*", "anything", 1},
        {"*", "10.0.0.1", 1},
        {"*", "[::1]", 1},
        {"*", "", 0}, /* no host, nothing to trust */
        /* suffix wildcards cross dots but need the dot */
        {"*.lab.example", "a.lab.example", 1},
        {"*.lab.example", "a.b.lab.example", 1},
        {"*.lab.example", "lab.example", 0},
        {"*.lab.example", "xlab.example", 0},
        {"*.lab.example", "A.LAB.Example", 1},
        {"*.lab.example", "a.lab.example.", 1},
        {"*.lab.example", "a.lab.example.org", 0},
        {"*.LAB.example.", "a.lab.EXAMPLE", 1},
        /* address ranges as text */
        {"192.168.1.*", "192.168.1.7", 1},
        {"192.168.1.*", "192.168.1.255", 1},
        {"192.168.1.*", "192.168.10.7", 0},
        {"192.168.1.*", "192.168.1", 0},
        {"192.168.*.1", "192.168.77.1", 1},
        /* prefixes and infixes */
        {"web*", "web01", 1},
        {"web*", "WEB01", 1},
        {"web*", "web", 1},
        {"web*", "myweb01", 0},
        {"web*", "web01.lab.example", 1},
        {"a*b*c", "aXXbYYc", 1},
        {"a*b*c", "abc", 1},
        {"a*b*c", "acb", 0},
        {"*a", "aaaa", 1},
        {"*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 0},
        /* plain names: whole and case-insensitive, trailing dot ignored */
        {"web01", "web01", 1},
        {"web01", "WEB01", 1},
        {"web01", "web01.lab.example", 0},
        {"web01", "web011", 0},
        {"host.example", "HOST.EXAMPLE.", 1},
        {"host.example.", "host.example", 1},
        /* an address matches only that address text */
        {"10.0.0.5", "10.0.0.5", 1},
        {"10.0.0.5", "10.0.0.50", 0},
        {"192.168.1.1", "192.168.1.10", 0},
        {"10.0.0.5", "web01", 0},
        /* IPv6, normalized */
        {"::1", "[::1]", 1},
        {"::1", "::1", 1},
        {"[::1]", "::1", 1},
        {"::1", "0:0:0:0:0:0:0:1", 1},
        {"FE80::A", "fe80::a", 1},
        {"fe80::a", "[FE80:0:0:0:0:0:0:A]", 1},
        {"2001:db8::1", "2001:db8::2", 0},
        {"2001:DB8:0::1", "[2001:db8::1]", 1},
        {"fe80::*", "[FE80::1]", 1},
        {"fe80::1%eth0", "[fe80::1%ETH0]", 1},
        {"fe80::1%eth0", "fe80::1", 0},
        /* <local>: names without a dot */
        {"<local>", "web01", 1},
        {"<local>", "WEB01.", 1},
        {"<LOCAL>", "web01", 1},
        {"<local>", "web01.lab", 0},
        {"<local>", "10.0.0.1", 0},
        {"<local>", "::1", 0},
        {"<local>", "[::1]", 0},
        /* an invalid pattern matches nothing */
        {"a b", "a b", 0},
        {"", "", 0},
        {"", "web01", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int got = wr_trustedhosts_pattern_match(cases[i].pattern, cases[i].host);
        if (got != cases[i].want)
            fail_msg("pattern '%s' host '%s': got %d, want %d", cases[i].pattern, cases[i].host,
                     got, cases[i].want);
    }
    assert_int_equal(wr_trustedhosts_pattern_match(NULL, "a"), 0);
    assert_int_equal(wr_trustedhosts_pattern_match("a", NULL), 0);
}

static void test_match_does_not_touch_error(void **state)
{
    (void)state;
    wr_error_set(WINRSH_EAUTH, WINRSH_ERRCLASS_AUTH, "earlier");
    assert_int_equal(wr_trustedhosts_pattern_match("a b", "a"), 0);
    assert_string_equal(last_message(), "earlier");
}

static void test_match_list(void **state)
{
    (void)state;
    wr_trustedhosts th = WR_TRUSTEDHOSTS_INIT;
    assert_int_equal(wr_trustedhosts_match(&th, "web01"), 0);
    assert_int_equal(wr_trustedhosts_add(&th, "10.0.0.*, *.lab.example", NULL), 0);
    assert_int_equal(wr_trustedhosts_match(&th, "10.0.0.9"), 1);
    assert_int_equal(wr_trustedhosts_match(&th, "x.lab.example"), 1);
    assert_int_equal(wr_trustedhosts_match(&th, "web01"), 0);
    wr_trustedhosts_free(&th);
}

/* ------------------------------------------------------------------ */
/* Bad patterns                                                         */

static void expect_bad(const char *pattern, const char *shown, const char *why)
{
    int rc = wr_trustedhosts_check_pattern(pattern);
    char want[512];
    snprintf(want, sizeof(want), "invalid TrustedHosts pattern '%s': %s", shown, why);
    if (rc != WINRSH_EINVAL || strcmp(last_message(), want) != 0)
        fail_msg("pattern '%s': rc %d, message '%s', want '%s'", shown, rc, last_message(), want);
}

static void test_bad_patterns(void **state)
{
    (void)state;
    expect_bad("", "", "it is empty");
    expect_bad(NULL, "", "it is empty");
    expect_bad("a b", "a b", "it contains a space");
    expect_bad("a\tb", "a\\x09b", "it contains a control character");
    expect_bad("a\x7f", "a\\x7f", "it contains a control character");
    expect_bad("a,b", "a,b", "it contains a comma (one pattern expected here)");
    expect_bad("<lan>", "<lan>", "'<' and '>' appear only in <local>");
    expect_bad("a>b", "a>b", "'<' and '>' appear only in <local>");

    char longest[257];
    memset(longest, 'a', 255);
    longest[255] = 0;
    assert_int_equal(wr_trustedhosts_check_pattern(longest), 0);
    longest[255] = 'a';
    longest[256] = 0;
    assert_int_equal(wr_trustedhosts_check_pattern(longest), WINRSH_EINVAL);
    assert_non_null(strstr(last_message(), "longer than 255 characters"));
    assert_non_null(strstr(last_message(), "'aaaaaaaa"));

    const char *good[] = {"*",     "<local>",       "<LOCAL>",
                          "web01", "*.lab.example", "192.168.1.*",
                          "[::1]", "fe80::1%eth0",  "xn--bcher-kva.example"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        if (wr_trustedhosts_check_pattern(good[i]) != 0)
            fail_msg("'%s' refused: %s", good[i], last_message());
}

/* ------------------------------------------------------------------ */
/* add / remove / clear                                                 */

static void expect_list(const wr_trustedhosts *th, const char *const *want, size_t n)
{
    assert_int_equal(th->count, n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(th->patterns[i], want[i]);
}

static void test_add(void **state)
{
    (void)state;
    wr_trustedhosts th = WR_TRUSTEDHOSTS_INIT;
    size_t added = 99;
    assert_int_equal(wr_trustedhosts_add(&th, "web01, 10.0.0.*,*.Lab.example ", &added), 0);
    assert_int_equal(added, 3);
    const char *w1[] = {"web01", "10.0.0.*", "*.Lab.example"};
    expect_list(&th, w1, 3);

    /* duplicates ignoring case, within the list too; order kept */
    assert_int_equal(wr_trustedhosts_add(&th, "WEB01,web02, Web02,*.lab.EXAMPLE", &added), 0);
    assert_int_equal(added, 1);
    const char *w2[] = {"web01", "10.0.0.*", "*.Lab.example", "web02"};
    expect_list(&th, w2, 4);

    /* one bad entry: nothing added, the bad one named */
    assert_int_equal(wr_trustedhosts_add(&th, "web03, bad pattern ,web04", &added), WINRSH_EINVAL);
    assert_int_equal(added, 0);
    assert_string_equal(last_message(),
                        "invalid TrustedHosts pattern 'bad pattern': it contains a space");
    expect_list(&th, w2, 4);
    assert_int_equal(wr_trustedhosts_add(&th, "web03,,web04", NULL), WINRSH_EINVAL);
    assert_string_equal(last_message(), "invalid TrustedHosts pattern '': it is empty");
    assert_int_equal(wr_trustedhosts_add(&th, "web03,", NULL), WINRSH_EINVAL);
    assert_int_equal(wr_trustedhosts_add(&th, "", NULL), WINRSH_EINVAL);
    assert_int_equal(wr_trustedhosts_add(&th, NULL, NULL), WINRSH_EINVAL);
    expect_list(&th, w2, 4);

    /* many: the array grows */
    for (int i = 0; i < 50; i++) {
        char p[32];
        snprintf(p, sizeof(p), "h%02d", i);
        assert_int_equal(wr_trustedhosts_add(&th, p, NULL), 0);
    }
    assert_int_equal(th.count, 54);
    assert_string_equal(th.patterns[53], "h49");
    wr_trustedhosts_free(&th);
}

static void test_remove_clear(void **state)
{
    (void)state;
    wr_trustedhosts th = WR_TRUSTEDHOSTS_INIT;
    assert_int_equal(wr_trustedhosts_add(&th, "a,web*,b,c", NULL), 0);
    assert_int_equal(wr_trustedhosts_remove(&th, "b"), 0);
    const char *w1[] = {"a", "web*", "c"};
    expect_list(&th, w1, 3);
    /* exact pattern only: no wildcard expansion */
    assert_int_equal(wr_trustedhosts_remove(&th, "web01"), WINRSH_EINVAL);
    assert_string_equal(last_message(), "'web01' is not in the TrustedHosts list");
    assert_int_equal(wr_trustedhosts_remove(&th, " WEB* "), 0);
    const char *w2[] = {"a", "c"};
    expect_list(&th, w2, 2);
    assert_int_equal(wr_trustedhosts_remove(&th, "b"), WINRSH_EINVAL);
    assert_string_equal(last_message(), "'b' is not in the TrustedHosts list");
    assert_int_equal(wr_trustedhosts_remove(&th, "c"), 0);
    assert_int_equal(wr_trustedhosts_remove(&th, "a"), 0);
    assert_int_equal(th.count, 0);

    assert_int_equal(wr_trustedhosts_add(&th, "x,y", NULL), 0);
    wr_trustedhosts_clear(&th);
    assert_int_equal(th.count, 0);
    assert_int_equal(wr_trustedhosts_match(&th, "x"), 0);
    assert_int_equal(wr_trustedhosts_add(&th, "z", NULL), 0);
    assert_int_equal(th.count, 1);
    wr_trustedhosts_free(&th);
    wr_trustedhosts_free(&th); /* safe twice */
    wr_trustedhosts_free(NULL);
}

/* ------------------------------------------------------------------ */
/* The file                                                             */

typedef struct {
    char root[64];
} tmpdir;

static int setup_dir(void **state)
{
    tmpdir *t = calloc(1, sizeof(*t));
    if (!t)
        return -1;
    snprintf(t->root, sizeof(t->root), "/tmp/winrsh-th-XXXXXX");
    if (!mkdtemp(t->root)) {
        free(t);
        return -1;
    }
    *state = t;
    return 0;
}

/* rm -r of what the tests create: at most two levels below root. */
static void remove_tree(const char *path)
{
    DIR *d = opendir(path);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            char sub[512];
            snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
            struct stat st;
            if (lstat(sub, &st) == 0 && S_ISDIR(st.st_mode))
                remove_tree(sub);
            else
                unlink(sub);
        }
        closedir(d);
    }
    rmdir(path);
}

static int teardown_dir(void **state)
{
    tmpdir *t = *state;
    remove_tree(t->root);
    free(t);
    return 0;
}

static void write_text(const char *dir, const char *text, mode_t mode)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/trustedhosts", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
    assert_int_equal(fclose(f), 0);
    assert_int_equal(chmod(path, mode), 0);
}

static void read_text(const char *dir, wr_buf *out)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/trustedhosts", dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char chunk[256];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        assert_int_equal(wr_buf_append(out, chunk, n), 0);
    fclose(f);
}

static void test_missing_file_is_empty(void **state)
{
    tmpdir *t = *state;
    wr_trustedhosts th = WR_TRUSTEDHOSTS_INIT;
    assert_int_equal(wr_trustedhosts_load(&th, t->root), 0);
    assert_int_equal(th.count, 0);
    char nowhere[128];
    snprintf(nowhere, sizeof(nowhere), "%s/no/such/dir", t->root);
    assert_int_equal(wr_trustedhosts_load(&th, nowhere), 0);
    assert_int_equal(th.count, 0);
    int trusted = 1;
    assert_int_equal(wr_trustedhosts_is_trusted(nowhere, "web01", &trusted), 0);
    assert_int_equal(trusted, 0);
    assert_int_equal(wr_trustedhosts_load(&th, NULL), WINRSH_EINVAL);
    wr_trustedhosts_free(&th);
}

static void test_round_trip(void **state)
{
    tmpdir *t = *state;
    char dir[256];
    snprintf(dir, sizeof(dir), "%s/config/winrsh", t->root);

    wr_trustedhosts th = WR_TRUSTEDHOSTS_INIT;
    assert_int_equal(
        wr_trustedhosts_add(&th, "web01,*.lab.example,192.168.1.*,[::1],<local>", NULL), 0);
    assert_int_equal(wr_trustedhosts_save(&th, dir), 0);

    /* directories made 0700, the file 0600, one pattern per line */
    struct stat st;
    assert_int_equal(stat(dir, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    char parent[256];
    snprintf(parent, sizeof(parent), "%s/config", t->root);
    assert_int_equal(stat(parent, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    char file[300];
    snprintf(file, sizeof(file), "%s/trustedhosts", dir);
    assert_int_equal(stat(file, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    wr_buf text = WR_BUF_INIT;
    read_text(dir, &text);
    assert_string_equal(wr_buf_cstr(&text), "web01\n*.lab.example\n192.168.1.*\n[::1]\n<local>\n");
    wr_buf_free(&text);

    /* no temporary file left behind */
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    int entries = 0;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            entries++;
    closedir(d);
    assert_int_equal(entries, 1);

    /* load replaces what the list held */
    wr_trustedhosts back = WR_TRUSTEDHOSTS_INIT;
    assert_int_equal(wr_trustedhosts_add(&back, "stale", NULL), 0);
    assert_int_equal(wr_trustedhosts_load(&back, dir), 0);
    assert_int_equal(back.count, th.count);
    for (size_t i = 0; i < th.count; i++)
        assert_string_equal(back.patterns[i], th.patterns[i]);

    /* remove, save again: the file follows */
    assert_int_equal(wr_trustedhosts_remove(&back, "[::1]"), 0);
    assert_int_equal(wr_trustedhosts_save(&back, dir), 0);
    wr_buf text2 = WR_BUF_INIT;
    read_text(dir, &text2);
    assert_string_equal(wr_buf_cstr(&text2), "web01\n*.lab.example\n192.168.1.*\n<local>\n");
    wr_buf_free(&text2);

    int trusted = 0;
    assert_int_equal(wr_trustedhosts_is_trusted(dir, "db.lab.example", &trusted), 0);
    assert_int_equal(trusted, 1);
    assert_int_equal(wr_trustedhosts_is_trusted(dir, "::1", &trusted), 0);
    assert_int_equal(trusted, 0);

    /* clear and save: an empty file, which loads as an empty list */
    wr_trustedhosts_clear(&back);
    assert_int_equal(wr_trustedhosts_save(&back, dir), 0);
    assert_int_equal(stat(file, &st), 0);
    assert_int_equal(st.st_size, 0);
    assert_int_equal(wr_trustedhosts_load(&back, dir), 0);
    assert_int_equal(back.count, 0);

    wr_trustedhosts_free(&th);
    wr_trustedhosts_free(&back);
}

static void test_load_hand_written(void **state)
{
    tmpdir *t = *state;
    write_text(t->root,
               "# lab hosts\r\n"
               "\n"
               "  web01  \r\n"
               "WEB01\n"
               "a.example, b.example\n"
               "   # indented comment\n"
               "10.0.0.*",
               0600);
    wr_trustedhosts th = WR_TRUSTEDHOSTS_INIT;
    assert_int_equal(wr_trustedhosts_load(&th, t->root), 0);
    const char *want[] = {"web01", "a.example", "b.example", "10.0.0.*"};
    expect_list(&th, want, 4);
    wr_trustedhosts_free(&th);
}

static void test_load_bad_line(void **state)
{
    tmpdir *t = *state;
    write_text(t->root, "web01\n\nweb 02\n", 0600);
    wr_trustedhosts th = WR_TRUSTEDHOSTS_INIT;
    assert_int_equal(wr_trustedhosts_add(&th, "kept", NULL), 0);
    assert_int_equal(wr_trustedhosts_load(&th, t->root), WINRSH_EINVAL);
    char want[512];
    snprintf(want, sizeof(want),
             "%s/trustedhosts:3: invalid TrustedHosts pattern 'web 02': it contains a space",
             t->root);
    assert_string_equal(last_message(), want);
    /* a failed load leaves the list alone */
    assert_int_equal(th.count, 1);

    write_text(t->root, "web01\nbad\001x\n", 0600);
    assert_int_equal(wr_trustedhosts_load(&th, t->root), WINRSH_EINVAL);
    assert_non_null(strstr(last_message(), ":2: invalid TrustedHosts pattern 'bad\\x01x'"));

    static const char with_nul[] = "web01\nab\0cd\n";
    char path[512];
    snprintf(path, sizeof(path), "%s/trustedhosts", t->root);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(with_nul, 1, sizeof(with_nul) - 1, f), sizeof(with_nul) - 1);
    fclose(f);
    assert_int_equal(wr_trustedhosts_load(&th, t->root), WINRSH_EINVAL);
    assert_non_null(strstr(last_message(), "'ab\\x00cd': it contains a control character"));
    wr_trustedhosts_free(&th);
}

static void test_load_refuses_loose_file(void **state)
{
    tmpdir *t = *state;
    write_text(t->root, "*\n", 0666);
    wr_trustedhosts th = WR_TRUSTEDHOSTS_INIT;
    assert_int_equal(wr_trustedhosts_load(&th, t->root), WINRSH_ETRUST);
    assert_non_null(strstr(last_message(), "writable by group or others"));
    int trusted = 1;
    assert_int_equal(wr_trustedhosts_is_trusted(t->root, "web01", &trusted), WINRSH_ETRUST);
    assert_int_equal(trusted, 0);
    write_text(t->root, "*\n", 0644); /* readable is fine */
    assert_int_equal(wr_trustedhosts_load(&th, t->root), 0);
    assert_int_equal(th.count, 1);
    wr_trustedhosts_free(&th);
}

static void test_save_into_file_fails(void **state)
{
    tmpdir *t = *state;
    /* the "directory" is a regular file */
    char path[256];
    snprintf(path, sizeof(path), "%s/plain", t->root);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fclose(f);
    wr_trustedhosts th = WR_TRUSTEDHOSTS_INIT;
    assert_int_equal(wr_trustedhosts_add(&th, "a", NULL), 0);
    int rc = wr_trustedhosts_save(&th, path);
    assert_true(rc < 0);
    assert_non_null(strstr(last_message(), path));
    wr_trustedhosts_free(&th);
}

/* ------------------------------------------------------------------ */
/* Configuration directory and the refusal                              */

static char *saved(const char *name)
{
    const char *v = getenv(name);
    return v ? strdup(v) : NULL;
}

static void restore(const char *name, char *value)
{
    if (value)
        setenv(name, value, 1);
    else
        unsetenv(name);
    free(value);
}

static void test_config_dir(void **state)
{
    (void)state;
    char *cfg = saved("WINRSH_CONFIG_DIR"), *xdg = saved("XDG_CONFIG_HOME"), *home = saved("HOME");
    wr_buf d = WR_BUF_INIT;

    setenv("WINRSH_CONFIG_DIR", "/tmp/cfg", 1);
    setenv("XDG_CONFIG_HOME", "/tmp/xdg", 1);
    setenv("HOME", "/tmp/home", 1);
    assert_int_equal(wr_config_dir(&d), 0);
    assert_string_equal(wr_buf_cstr(&d), "/tmp/cfg");

    unsetenv("WINRSH_CONFIG_DIR");
    assert_int_equal(wr_config_dir(&d), 0);
    assert_string_equal(wr_buf_cstr(&d), "/tmp/xdg/winrsh");

    setenv("WINRSH_CONFIG_DIR", "", 1);           /* empty means unset */
    setenv("XDG_CONFIG_HOME", "relative/xdg", 1); /* ignored, per the XDG spec */
    assert_int_equal(wr_config_dir(&d), 0);
    assert_string_equal(wr_buf_cstr(&d), "/tmp/home/.config/winrsh");

    unsetenv("XDG_CONFIG_HOME");
    unsetenv("HOME");
    /* from the password database, when this uid is in it */
    if (wr_config_dir(&d) == 0) {
        assert_true(d.len > strlen("/.config/winrsh"));
        assert_string_equal(wr_buf_cstr(&d) + d.len - strlen("/.config/winrsh"), "/.config/winrsh");
    } else {
        assert_non_null(strstr(last_message(), "set HOME or WINRSH_CONFIG_DIR"));
    }

    wr_buf_free(&d);
    restore("WINRSH_CONFIG_DIR", cfg);
    restore("XDG_CONFIG_HOME", xdg);
    restore("HOME", home);
}

static void test_is_trusted_default_dir(void **state)
{
    tmpdir *t = *state;
    char *cfg = saved("WINRSH_CONFIG_DIR");
    setenv("WINRSH_CONFIG_DIR", t->root, 1);
    write_text(t->root, "*.lab.example\n", 0600);
    int trusted = 0;
    assert_int_equal(wr_trustedhosts_is_trusted(NULL, "a.lab.example", &trusted), 0);
    assert_int_equal(trusted, 1);
    assert_int_equal(wr_trustedhosts_is_trusted(NULL, "a.example", &trusted), 0);
    assert_int_equal(trusted, 0);
    restore("WINRSH_CONFIG_DIR", cfg);
}

static void test_refusal(void **state)
{
    (void)state;
    wr_buf m = WR_BUF_INIT;
    assert_int_equal(wr_buf_puts(&m, "winrsh: "), 0);
    assert_int_equal(wr_trustedhosts_refusal("web01.lab.example", &m), 0);
    assert_string_equal(wr_buf_cstr(&m),
                        "winrsh: cannot send credentials to web01.lab.example over HTTP: the "
                        "destination is not in TrustedHosts. Use HTTPS (--https), or add the "
                        "host with: winrsh --trusted-hosts add web01.lab.example");
    wr_buf_free(&m);

    assert_int_equal(wr_trustedhosts_refuse("10.0.0.5"), WINRSH_ETRUST);
    const winrsh_error *e = winrsh_error_last();
    assert_int_equal(e->code, WINRSH_ETRUST);
    assert_string_equal(e->message,
                        "cannot send credentials to 10.0.0.5 over HTTP: the destination is not "
                        "in TrustedHosts. Use HTTPS (--https), or add the host with: winrsh "
                        "--trusted-hosts add 10.0.0.5");
    assert_null(strchr(e->message, '\n'));

    /* a hostile host name stays one printable line */
    assert_int_equal(wr_trustedhosts_refuse("evil\nline"), WINRSH_ETRUST);
    assert_non_null(strstr(winrsh_error_last()->message, "evil\\x0aline"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_match_table),
        cmocka_unit_test(test_match_does_not_touch_error),
        cmocka_unit_test(test_match_list),
        cmocka_unit_test(test_bad_patterns),
        cmocka_unit_test(test_add),
        cmocka_unit_test(test_remove_clear),
        cmocka_unit_test_setup_teardown(test_missing_file_is_empty, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_round_trip, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_load_hand_written, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_load_bad_line, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_load_refuses_loose_file, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_save_into_file_fails, setup_dir, teardown_dir),
        cmocka_unit_test(test_config_dir),
        cmocka_unit_test_setup_teardown(test_is_trusted_default_dir, setup_dir, teardown_dir),
        cmocka_unit_test(test_refusal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
