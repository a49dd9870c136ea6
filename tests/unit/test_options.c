/*
 * test_options.c: the winrsh command line (client/options.c), the contract
 * of ARCHITECTURE.md 4 that scripts rely on.
 *
 * client/ is not part of the library, so the parser is compiled into this
 * test directly by including its source file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../client/options.c"

static struct cli_options o;
static char err[512];

/* Parse "winrsh ARGS..."; returns what winrsh_cli_parse returned. */
static int parse_v(char **argv)
{
    int argc = 0;
    while (argv[argc])
        argc++;
    err[0] = '\0';
    return winrsh_cli_parse(argc, argv, &o, err, sizeof(err));
}

#define PARSE(...) parse_v((char *[]){"winrsh", __VA_ARGS__, NULL})

#define assert_err_contains(needle)                                                                \
    do {                                                                                           \
        if (strstr(err, (needle)) == NULL)                                                         \
            fail_msg("error '%s' does not contain '%s'", err, (needle));                           \
    } while (0)

/* ---- targets ---- */

static void test_host_defaults(void **state)
{
    (void)state;
    assert_int_equal(PARSE("host"), 0);
    assert_int_equal(o.action, CLI_ACTION_RUN);
    assert_string_equal(o.url, "http://host:5985/wsman");
    assert_string_equal(o.host, "host");
    assert_int_equal(o.port, 5985);
    assert_int_equal(o.transport, CLI_TRANSPORT_HTTP);
    assert_null(o.user);
    assert_null(o.command);
    assert_int_equal(o.nargs, 0);
    assert_int_equal(o.codepage, 65001);
    assert_int_equal(o.auth, WINRSH_AUTH_NEGOTIATE);
    assert_string_equal(o.auth_name, "negotiate");
    assert_int_equal(o.shell, CLI_DEFAULT_SHELL);
    assert_int_equal(o.output, CLI_OUTPUT_TEXT);
    assert_int_equal(o.no_stdin, 0);
    assert_int_equal(o.operation_timeout_ms, 0);
    assert_int_equal(o.connect_timeout_ms, 0);
}

static void test_https_default_port(void **state)
{
    (void)state;
    assert_int_equal(PARSE("--https", "host"), 0);
    assert_string_equal(o.url, "https://host:5986/wsman");
    assert_int_equal(o.transport, CLI_TRANSPORT_HTTPS);
    /* --https after TARGET counts too */
    assert_int_equal(PARSE("host", "--https"), 0);
    assert_string_equal(o.url, "https://host:5986/wsman");
}

static void test_port_forms(void **state)
{
    (void)state;
    assert_int_equal(PARSE("host:1234"), 0);
    assert_string_equal(o.url, "http://host:1234/wsman");
    assert_int_equal(PARSE("-p", "8080", "host"), 0);
    assert_string_equal(o.url, "http://host:8080/wsman");
    assert_int_equal(PARSE("host", "-p", "8080"), 0);
    assert_string_equal(o.url, "http://host:8080/wsman");
    assert_int_equal(PARSE("host", "-p8080"), 0);
    assert_string_equal(o.url, "http://host:8080/wsman");
    assert_int_equal(PARSE("--port=443", "--https", "host"), 0);
    assert_string_equal(o.url, "https://host:443/wsman");
    assert_int_equal(PARSE("-p", "1234", "host:1234"), 0);
    assert_string_equal(o.url, "http://host:1234/wsman");
}

static void test_port_errors(void **state)
{
    (void)state;
    assert_int_equal(PARSE("host:0"), -1);
    assert_err_contains("bad port '0'");
    assert_int_equal(PARSE("host:65536"), -1);
    assert_err_contains("65536");
    assert_int_equal(PARSE("host:"), -1);
    assert_err_contains("bad port");
    assert_int_equal(PARSE("host:http"), -1);
    assert_err_contains("'http'");
    assert_int_equal(PARSE("-p", "0", "host"), -1);
    assert_err_contains("-p");
    assert_int_equal(PARSE("--port", "99999", "host"), -1);
    assert_err_contains("--port");
    assert_int_equal(PARSE("-p", "80", "host:81"), -1);
    assert_err_contains("conflicts");
}

static void test_user_at_host(void **state)
{
    (void)state;
    assert_int_equal(PARSE("admin@host"), 0);
    assert_string_equal(o.user, "admin");
    assert_string_equal(o.host, "host");
    assert_string_equal(o.url, "http://host:5985/wsman");
    /* the last '@' separates: a Kerberos principal keeps its realm */
    assert_int_equal(PARSE("user@EXAMPLE.COM@host:5985"), 0);
    assert_string_equal(o.user, "user@EXAMPLE.COM");
    assert_string_equal(o.host, "host");
    assert_int_equal(PARSE("DOM\\admin@host"), 0);
    assert_string_equal(o.user, "DOM\\admin");
}

static void test_user_option(void **state)
{
    (void)state;
    assert_int_equal(PARSE("-u", "DOM\\bob", "host"), 0);
    assert_string_equal(o.user, "DOM\\bob");
    assert_int_equal(PARSE("host", "--user=bob@REALM"), 0);
    assert_string_equal(o.user, "bob@REALM");
    assert_int_equal(PARSE("-ubob", "host"), 0);
    assert_string_equal(o.user, "bob");
    /* the same name twice is fine; two different names are a mistake */
    assert_int_equal(PARSE("-u", "bob", "bob@host"), 0);
    assert_string_equal(o.user, "bob");
    assert_int_equal(PARSE("-u", "alice", "bob@host"), -1);
    assert_err_contains("alice");
    assert_err_contains("bob");
    assert_int_equal(PARSE("@host"), -1);
    assert_err_contains("empty user");
    assert_int_equal(PARSE("--user=", "host"), -1);
    assert_err_contains("--user");
}

static void test_ipv6(void **state)
{
    (void)state;
    assert_int_equal(PARSE("[::1]:5985"), 0);
    assert_string_equal(o.host, "::1");
    assert_string_equal(o.url, "http://[::1]:5985/wsman");
    assert_int_equal(PARSE("[::1]"), 0);
    assert_string_equal(o.url, "http://[::1]:5985/wsman");
    assert_int_equal(PARSE("--https", "admin@[2001:db8::5]:443"), 0);
    assert_string_equal(o.user, "admin");
    assert_string_equal(o.url, "https://[2001:db8::5]:443/wsman");
    /* a bare address with two or more colons has no port */
    assert_int_equal(PARSE("::1"), 0);
    assert_string_equal(o.url, "http://[::1]:5985/wsman");
    assert_int_equal(PARSE("fe80::1"), 0);
    assert_string_equal(o.host, "fe80::1");
}

static void test_ipv6_errors(void **state)
{
    (void)state;
    assert_int_equal(PARSE("[::1"), -1);
    assert_err_contains("']'");
    assert_int_equal(PARSE("[::1]5985"), -1);
    assert_err_contains("after ']'");
    assert_int_equal(PARSE("[host]"), -1);
    assert_err_contains("IPv6");
    assert_int_equal(PARSE("[]:5985"), -1);
    assert_int_equal(PARSE("zz::1"), -1);
    assert_err_contains("zz::1");
}

static void test_bad_hosts(void **state)
{
    (void)state;
    assert_int_equal(PARSE(""), -1);
    assert_err_contains("empty TARGET");
    assert_int_equal(PARSE(":5985"), -1);
    assert_err_contains("no valid host");
    assert_int_equal(PARSE("host/wsman"), -1);
    assert_err_contains("host/wsman");
}

static void test_http_urls(void **state)
{
    (void)state;
    assert_int_equal(PARSE("http://host:8080/wsman"), 0);
    assert_string_equal(o.url, "http://host:8080/wsman");
    assert_int_equal(o.transport, CLI_TRANSPORT_HTTP);
    assert_int_equal(o.port, 8080);
    assert_int_equal(PARSE("http://host"), 0);
    assert_string_equal(o.url, "http://host:5985/wsman");
    assert_int_equal(PARSE("https://host"), 0);
    assert_string_equal(o.url, "https://host:5986/wsman");
    assert_int_equal(o.transport, CLI_TRANSPORT_HTTPS);
    assert_int_equal(PARSE("https://host/wsman-custom"), 0);
    assert_string_equal(o.url, "https://host:5986/wsman-custom");
    assert_int_equal(PARSE("http://admin@[::1]:5985/wsman"), 0);
    assert_string_equal(o.user, "admin");
    assert_string_equal(o.url, "http://[::1]:5985/wsman");
    /* -p fills in a port the URL does not have */
    assert_int_equal(PARSE("-p", "1234", "http://host/wsman"), 0);
    assert_string_equal(o.url, "http://host:1234/wsman");
    /* --https with https:// is redundant, not wrong */
    assert_int_equal(PARSE("--https", "https://host"), 0);
    assert_string_equal(o.url, "https://host:5986/wsman");
}

static void test_http_url_errors(void **state)
{
    (void)state;
    assert_int_equal(PARSE("--https", "http://host/wsman"), -1);
    assert_err_contains("--https");
    assert_int_equal(PARSE("-p", "1", "http://host:2/wsman"), -1);
    assert_err_contains("conflicts");
    assert_int_equal(PARSE("http:///wsman"), -1);
    assert_err_contains("no valid host");
    assert_int_equal(PARSE("http://host:x/wsman"), -1);
    assert_err_contains("bad port");
    assert_int_equal(PARSE("ftp://host"), -1);
    assert_err_contains("unknown scheme 'ftp://'");
}

static void test_other_schemes(void **state)
{
    (void)state;
    static const struct {
        const char *target;
        enum cli_transport t;
        const char *host; /* for messages and the REPL prompt */
    } cases[] = {
        {"ssh://admin@host:22", CLI_TRANSPORT_SSH, "host"},
        {"ssh://lab", CLI_TRANSPORT_SSH, "lab"},
        {"ssh://me@[::1]:2222", CLI_TRANSPORT_SSH, "::1"},
        {"vmbus://6d5f1a8c-0000-0000-0000-000000000000", CLI_TRANSPORT_VMBUS,
         "6d5f1a8c-0000-0000-0000-000000000000"},
        {"vmbus://LAB%5Cadmin@6d5f1a8c-0000-0000-0000-000000000000/cfg", CLI_TRANSPORT_VMBUS,
         "6d5f1a8c-0000-0000-0000-000000000000"},
        {"vsock://3:5985", CLI_TRANSPORT_VSOCK, ""},
        {"process:///usr/bin/pwsh", CLI_TRANSPORT_PROCESS, ""},
        {"unix:///tmp/psrp.sock", CLI_TRANSPORT_UNIX, ""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(PARSE((char *)cases[i].target, "dir"), 0);
        assert_int_equal(o.transport, cases[i].t);
        assert_string_equal(o.host, cases[i].host);
        assert_string_equal(o.url, cases[i].target);
        assert_string_equal(o.command, "dir");
        /* They carry PowerShell (the default shell)... */
        assert_int_equal(winrsh_cli_check_supported(&o, err, sizeof(err)), 0);
        /* ...and never the WinRS cmd shell. */
        assert_int_equal(PARSE("--shell", "cmd", (char *)cases[i].target, "dir"), 0);
        assert_int_equal(winrsh_cli_check_supported(&o, err, sizeof(err)), -1);
        assert_err_contains("--shell cmd needs WinRM");
    }
    assert_int_equal(PARSE("--ssh-option", "Port=2222", "ssh://me@lab", "dir"), 0);
    assert_int_equal(winrsh_cli_check_supported(&o, err, sizeof(err)), 0);
}

/* ---- where COMMAND starts ---- */

static void test_command_boundary(void **state)
{
    (void)state;
    assert_int_equal(PARSE("host", "ls", "-l"), 0);
    assert_string_equal(o.command, "ls");
    assert_int_equal(o.nargs, 1);
    assert_string_equal(o.args[0], "-l");

    /* options after TARGET but before COMMAND are ours */
    assert_int_equal(PARSE("host", "-v", "-n", "dir", "/s", "C:\\"), 0);
    assert_int_equal(o.verbose, 1);
    assert_int_equal(o.no_stdin, 1);
    assert_string_equal(o.command, "dir");
    assert_int_equal(o.nargs, 2);
    assert_string_equal(o.args[0], "/s");
    assert_string_equal(o.args[1], "C:\\");

    /* after COMMAND everything is the command's, even our options */
    assert_int_equal(PARSE("host", "echo", "-v", "--help", "--", "-n"), 0);
    assert_int_equal(o.verbose, 0);
    assert_int_equal(o.action, CLI_ACTION_RUN);
    assert_string_equal(o.command, "echo");
    assert_int_equal(o.nargs, 4);
    assert_string_equal(o.args[1], "--help");
    assert_string_equal(o.args[2], "--");
    assert_int_equal(o.no_stdin, 0);
}

static void test_double_dash(void **state)
{
    (void)state;
    assert_int_equal(PARSE("host", "--", "-weird", "x"), 0);
    assert_string_equal(o.command, "-weird");
    assert_int_equal(o.nargs, 1);
    assert_int_equal(PARSE("-v", "--", "host", "--https"), 0);
    assert_string_equal(o.target, "host");
    assert_string_equal(o.command, "--https");
    assert_int_equal(o.https, 0);
    assert_string_equal(o.url, "http://host:5985/wsman");
    assert_int_equal(PARSE("--", "-host"), 0);
    assert_string_equal(o.target, "-host");
    assert_null(o.command);
}

static void test_lone_dash_is_a_word(void **state)
{
    (void)state;
    assert_int_equal(PARSE("host", "-"), 0);
    assert_string_equal(o.command, "-");
}

static void test_no_command_is_repl(void **state)
{
    (void)state;
    assert_int_equal(PARSE("-v", "host", "--trace"), 0);
    assert_null(o.command);
    assert_int_equal(o.nargs, 0);
    assert_non_null(o.args);
    assert_int_equal(o.trace, 1);
}

/* ---- options ---- */

static void test_auth_names(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        unsigned int bit;
    } cases[] = {{"negotiate", WINRSH_AUTH_NEGOTIATE}, {"ntlm", WINRSH_AUTH_NTLM},
                 {"kerberos", WINRSH_AUTH_KERBEROS},   {"basic", WINRSH_AUTH_BASIC},
                 {"credssp", WINRSH_AUTH_CREDSSP},     {"certificate", WINRSH_AUTH_CERTIFICATE}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(PARSE("-a", (char *)cases[i].name, "host"), 0);
        assert_int_equal(o.auth, cases[i].bit);
        assert_string_equal(o.auth_name, cases[i].name);
    }
    assert_int_equal(PARSE("host", "--auth=basic"), 0);
    assert_int_equal(o.auth, WINRSH_AUTH_BASIC);
    assert_int_equal(PARSE("-abasic", "host"), 0);
    assert_int_equal(o.auth, WINRSH_AUTH_BASIC);
    assert_int_equal(PARSE("-a", "digest", "host"), -1);
    assert_err_contains("'digest'");
    assert_err_contains("-a");
}

static void test_equals_form(void **state)
{
    (void)state;
    assert_int_equal(PARSE("--codepage=437", "--shell=cmd", "--output=text", "host",
                           "--operation-timeout=30", "--connect-timeout=2.5",
                           "--password-file=/tmp/pw", "--config-name=Microsoft.PowerShell"),
                     0);
    assert_int_equal(o.codepage, 437);
    assert_int_equal(o.shell, CLI_SHELL_CMD);
    assert_int_equal(o.operation_timeout_ms, 30000);
    assert_int_equal(o.connect_timeout_ms, 2500);
    assert_string_equal(o.password_file, "/tmp/pw");
    assert_string_equal(o.config_name, "Microsoft.PowerShell");
    /* a value may contain '=' */
    assert_int_equal(PARSE("--user=a=b", "host"), 0);
    assert_string_equal(o.user, "a=b");
}

static void test_flags(void **state)
{
    (void)state;
    assert_int_equal(PARSE("-nv", "--allow-unencrypted", "--insecure", "host", "--trace"), 0);
    assert_int_equal(o.no_stdin, 1);
    assert_int_equal(o.verbose, 1);
    assert_int_equal(o.allow_unencrypted, 1);
    assert_int_equal(o.insecure, 1);
    assert_int_equal(o.trace, 1);
    assert_int_equal(PARSE("--verbose", "host"), 0);
    assert_int_equal(o.verbose, 1);
}

static void test_shell_and_output(void **state)
{
    (void)state;
    assert_int_equal(PARSE("--shell", "powershell", "host"), 0);
    assert_int_equal(o.shell, CLI_SHELL_POWERSHELL);
    assert_int_equal(PARSE("--shell", "bash", "host"), -1);
    assert_err_contains("'bash'");
    assert_int_equal(PARSE("--output", "json", "host"), 0);
    assert_int_equal(o.output, CLI_OUTPUT_JSON);
    assert_int_equal(PARSE("--output", "xml", "host"), -1);
    assert_err_contains("--output");
}

static void test_codepage(void **state)
{
    (void)state;
    assert_int_equal(PARSE("--codepage", "437", "host"), 0);
    assert_int_equal(o.codepage, 437);
    assert_int_equal(PARSE("--codepage", "0", "host"), -1);
    assert_err_contains("--codepage");
    assert_int_equal(PARSE("--codepage", "65001x", "host"), -1);
    assert_int_equal(PARSE("--codepage", "", "host"), -1);
}

static void test_timeouts(void **state)
{
    (void)state;
    assert_int_equal(PARSE("--operation-timeout", "20", "host"), 0);
    assert_int_equal(o.operation_timeout_ms, 20000);
    assert_int_equal(PARSE("--connect-timeout", "0.5", "host"), 0);
    assert_int_equal(o.connect_timeout_ms, 500);
    assert_int_equal(PARSE("--connect-timeout", ".25", "host"), 0);
    assert_int_equal(o.connect_timeout_ms, 250);
    assert_int_equal(PARSE("--operation-timeout", "0", "host"), -1);
    assert_err_contains("--operation-timeout");
    assert_int_equal(PARSE("--operation-timeout", "1.2345", "host"), -1);
    assert_int_equal(PARSE("--operation-timeout", "-1", "host"), -1);
    assert_int_equal(PARSE("--connect-timeout", "10s", "host"), -1);
    assert_err_contains("'10s'");
    assert_int_equal(PARSE("--connect-timeout", "99999999", "host"), -1);
    assert_int_equal(PARSE("--connect-timeout", ".", "host"), -1);
}

static void test_tls_and_ssh_options(void **state)
{
    (void)state;
    assert_int_equal(PARSE("--cacert", "ca.pem", "--cert", "c.pem", "--key", "k.pem", "host",
                           "--ssh-option", "Port=22", "--ssh-option=User=x"),
                     0);
    assert_string_equal(o.cacert, "ca.pem");
    assert_string_equal(o.cert, "c.pem");
    assert_string_equal(o.key, "k.pem");
    assert_int_equal(o.n_ssh_options, 2);
    assert_string_equal(o.ssh_options[0], "Port=22");
    assert_string_equal(o.ssh_options[1], "User=x");
    assert_int_equal(PARSE("--cert", "c.pem", "host"), -1);
    assert_err_contains("--key");
}

static void test_option_errors(void **state)
{
    (void)state;
    assert_int_equal(PARSE("--frob", "host"), -1);
    assert_err_contains("unknown option '--frob'");
    assert_int_equal(PARSE("host", "--frob=1"), -1);
    assert_err_contains("'--frob'");
    assert_int_equal(PARSE("-x", "host"), -1);
    assert_err_contains("unknown option '-x'");
    assert_int_equal(PARSE("-nx", "host"), -1);
    assert_err_contains("'-x'");
    assert_int_equal(PARSE("host", "--user"), -1);
    assert_err_contains("--user needs a value");
    assert_int_equal(PARSE("host", "-u"), -1);
    assert_err_contains("-u needs a value");
    assert_int_equal(PARSE("--https=yes", "host"), -1);
    assert_err_contains("--https takes no value");
    assert_int_equal(PARSE("--verb", "host"), -1); /* no abbreviations */
    assert_err_contains("--verb");
}

static void test_no_password_option(void **state)
{
    (void)state;
    assert_int_equal(PARSE("--password", "secret", "host"), -1);
    assert_err_contains("no --password");
    assert_null(strstr(err, "secret"));
    assert_int_equal(PARSE("host", "--password=secret"), -1);
    assert_null(strstr(err, "secret"));
}

static void test_no_target(void **state)
{
    (void)state;
    assert_int_equal(PARSE("-v"), -1);
    assert_err_contains("no TARGET");
    char *argv[] = {"winrsh", NULL};
    assert_int_equal(winrsh_cli_parse(1, argv, &o, err, sizeof(err)), -1);
    assert_err_contains("no TARGET");
}

static void test_help_version(void **state)
{
    (void)state;
    assert_int_equal(PARSE("-h"), 0);
    assert_int_equal(o.action, CLI_ACTION_HELP);
    assert_int_equal(PARSE("host", "--help"), 0);
    assert_int_equal(o.action, CLI_ACTION_HELP);
    assert_int_equal(PARSE("--version"), 0);
    assert_int_equal(o.action, CLI_ACTION_VERSION);
    /* --help wins over a later bad option */
    assert_int_equal(PARSE("--help", "--frob"), 0);
    assert_int_equal(o.action, CLI_ACTION_HELP);
    assert_non_null(strstr(winrsh_cli_usage, "--password-file"));
    assert_null(strstr(winrsh_cli_usage, "--password "));
}

static void test_trusted_hosts(void **state)
{
    (void)state;
    assert_int_equal(PARSE("--trusted-hosts", "list"), 0);
    assert_int_equal(o.action, CLI_ACTION_TRUSTED_HOSTS);
    assert_int_equal(o.th_op, CLI_TH_LIST);
    assert_int_equal(PARSE("--trusted-hosts", "add", "*.lab,10.0.0.*"), 0);
    assert_int_equal(o.th_op, CLI_TH_ADD);
    assert_string_equal(o.th_arg, "*.lab,10.0.0.*");
    assert_int_equal(PARSE("--trusted-hosts=remove", "x.lab"), 0);
    assert_int_equal(o.th_op, CLI_TH_REMOVE);
    assert_string_equal(o.th_arg, "x.lab");
    assert_int_equal(PARSE("--trusted-hosts", "clear"), 0);
    assert_int_equal(o.th_op, CLI_TH_CLEAR);
    assert_int_equal(winrsh_cli_check_supported(&o, err, sizeof(err)), 0);

    assert_int_equal(PARSE("--trusted-hosts", "add"), -1);
    assert_err_contains("needs a pattern");
    assert_int_equal(PARSE("--trusted-hosts", "purge"), -1);
    assert_err_contains("'purge'");
    assert_int_equal(PARSE("--trusted-hosts", "list", "host"), -1);
    assert_err_contains("takes no TARGET");
}

static void test_check_supported(void **state)
{
    (void)state;
    assert_int_equal(PARSE("-a", "basic", "--allow-unencrypted", "host", "dir"), 0);
    assert_int_equal(winrsh_cli_check_supported(&o, err, sizeof(err)), 0);
    assert_int_equal(PARSE("--https", "host"), 0);
    assert_int_equal(winrsh_cli_check_supported(&o, err, sizeof(err)), 0);

    /* PowerShell is the default shell and its options are supported. */
    assert_int_equal(CLI_DEFAULT_SHELL, CLI_SHELL_POWERSHELL);
    assert_int_equal(PARSE("--shell=powershell", "--output=json", "--config-name=X", "host"), 0);
    assert_int_equal(winrsh_cli_check_supported(&o, err, sizeof(err)), 0);
    /* ...but they make no sense for the cmd shell. */
    assert_int_equal(PARSE("--shell=cmd", "--output=json", "host"), 0);
    assert_int_equal(winrsh_cli_check_supported(&o, err, sizeof(err)), -1);
    assert_err_contains("--output json needs PowerShell");
    assert_int_equal(PARSE("--shell=cmd", "--config-name=X", "host"), 0);
    assert_int_equal(winrsh_cli_check_supported(&o, err, sizeof(err)), -1);
    assert_err_contains("--config-name needs PowerShell");

    /* TLS options go to the library now. */
    assert_int_equal(PARSE("--cacert=ca.pem", "--insecure", "--https", "host"), 0);
    assert_int_equal(winrsh_cli_check_supported(&o, err, sizeof(err)), 0);
    assert_int_equal(PARSE("-a", "certificate", "--cert=c", "--key=k", "--https", "host"), 0);
    assert_int_equal(winrsh_cli_check_supported(&o, err, sizeof(err)), 0);

    assert_int_equal(PARSE("--ssh-option=A=b", "host"), 0);
    assert_int_equal(winrsh_cli_check_supported(&o, err, sizeof(err)), -1);
    assert_err_contains("--ssh-option only applies to ssh:// targets");
    assert_int_equal(PARSE("--cert=c", "--key=k", "host"), 0);
    assert_int_equal(winrsh_cli_check_supported(&o, err, sizeof(err)), -1);
    assert_err_contains("--cert/--key need -a certificate");
    assert_int_equal(PARSE("-a", "certificate", "--https", "host"), 0);
    assert_int_equal(winrsh_cli_check_supported(&o, err, sizeof(err)), -1);
    assert_err_contains("-a certificate needs --cert");
}

static void test_ssh_option_limit(void **state)
{
    (void)state;
    char *argv[2 + 2 * (CLI_MAX_SSH_OPTIONS + 1) + 1];
    int argc = 0;
    argv[argc++] = "winrsh";
    argv[argc++] = "host";
    for (int i = 0; i <= CLI_MAX_SSH_OPTIONS; i++) {
        argv[argc++] = "--ssh-option";
        argv[argc++] = "A=b";
    }
    argv[argc] = NULL;
    assert_int_equal(winrsh_cli_parse(argc, argv, &o, err, sizeof(err)), -1);
    assert_err_contains("too many --ssh-option");
}

static void test_reparse_resets(void **state)
{
    (void)state;
    assert_int_equal(PARSE("-v", "-n", "bob@host", "dir"), 0);
    assert_int_equal(PARSE("other"), 0);
    assert_int_equal(o.verbose, 0);
    assert_int_equal(o.no_stdin, 0);
    assert_null(o.user);
    assert_null(o.command);
}

static void test_small_error_buffer(void **state)
{
    (void)state;
    char small[8];
    char *argv[] = {"winrsh", "--a-very-long-unknown-option", NULL};
    assert_int_equal(winrsh_cli_parse(2, argv, &o, small, sizeof(small)), -1);
    assert_int_equal(strlen(small), sizeof(small) - 1);
    assert_int_equal(winrsh_cli_parse(2, argv, &o, NULL, 0), -1);
}

/* ---- configuration directory ---- */

static void test_config_dir(void **state)
{
    (void)state;
    char dir[256];
    setenv("HOME", "/home/u", 1);
    unsetenv("XDG_CONFIG_HOME");
    unsetenv("WINRSH_CONFIG_DIR");
    assert_int_equal(winrsh_cli_config_dir(dir, sizeof(dir)), 0);
    assert_string_equal(dir, "/home/u/.config/winrsh");
    setenv("XDG_CONFIG_HOME", "/xdg", 1);
    assert_int_equal(winrsh_cli_config_dir(dir, sizeof(dir)), 0);
    assert_string_equal(dir, "/xdg/winrsh");
    setenv("WINRSH_CONFIG_DIR", "/tmp/cfg", 1);
    assert_int_equal(winrsh_cli_config_dir(dir, sizeof(dir)), 0);
    assert_string_equal(dir, "/tmp/cfg");
    /* empty variables count as unset */
    setenv("WINRSH_CONFIG_DIR", "", 1);
    setenv("XDG_CONFIG_HOME", "", 1);
    assert_int_equal(winrsh_cli_config_dir(dir, sizeof(dir)), 0);
    assert_string_equal(dir, "/home/u/.config/winrsh");
    /* a relative XDG_CONFIG_HOME is ignored, as the XDG spec asks */
    setenv("XDG_CONFIG_HOME", "relative/cfg", 1);
    assert_int_equal(winrsh_cli_config_dir(dir, sizeof(dir)), 0);
    assert_string_equal(dir, "/home/u/.config/winrsh");
    assert_int_equal(winrsh_cli_config_dir(dir, 5), -1);
    /* no HOME: the password database */
    unsetenv("HOME");
    unsetenv("XDG_CONFIG_HOME");
    unsetenv("WINRSH_CONFIG_DIR");
    const struct passwd *pw = getpwuid(getuid());
    if (pw && pw->pw_dir && *pw->pw_dir) {
        char want[300];
        snprintf(want, sizeof(want), "%s/.config/winrsh", pw->pw_dir);
        assert_int_equal(winrsh_cli_config_dir(dir, sizeof(dir)), 0);
        assert_string_equal(dir, want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_host_defaults),
        cmocka_unit_test(test_https_default_port),
        cmocka_unit_test(test_port_forms),
        cmocka_unit_test(test_port_errors),
        cmocka_unit_test(test_user_at_host),
        cmocka_unit_test(test_user_option),
        cmocka_unit_test(test_ipv6),
        cmocka_unit_test(test_ipv6_errors),
        cmocka_unit_test(test_bad_hosts),
        cmocka_unit_test(test_http_urls),
        cmocka_unit_test(test_http_url_errors),
        cmocka_unit_test(test_other_schemes),
        cmocka_unit_test(test_command_boundary),
        cmocka_unit_test(test_double_dash),
        cmocka_unit_test(test_lone_dash_is_a_word),
        cmocka_unit_test(test_no_command_is_repl),
        cmocka_unit_test(test_auth_names),
        cmocka_unit_test(test_equals_form),
        cmocka_unit_test(test_flags),
        cmocka_unit_test(test_shell_and_output),
        cmocka_unit_test(test_codepage),
        cmocka_unit_test(test_timeouts),
        cmocka_unit_test(test_tls_and_ssh_options),
        cmocka_unit_test(test_option_errors),
        cmocka_unit_test(test_no_password_option),
        cmocka_unit_test(test_no_target),
        cmocka_unit_test(test_help_version),
        cmocka_unit_test(test_trusted_hosts),
        cmocka_unit_test(test_check_supported),
        cmocka_unit_test(test_ssh_option_limit),
        cmocka_unit_test(test_reparse_resets),
        cmocka_unit_test(test_small_error_buffer),
        cmocka_unit_test(test_config_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
