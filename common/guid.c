#include "guid.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "winrsh/errors.h"

int wr_guid_random(wr_guid *g)
{
    size_t got = 0;
    for (int tries = 0; got < sizeof(g->b) && tries < 16; tries++) {
        ssize_t n = getrandom(g->b + got, sizeof(g->b) - got, 0);
        if (n > 0)
            got += (size_t)n;
        else if (errno != EINTR)
            break;
    }
    if (got < sizeof(g->b))
        return WINRSH_EIO;
    g->b[6] = (unsigned char)((g->b[6] & 0x0f) | 0x40);
    g->b[8] = (unsigned char)((g->b[8] & 0x3f) | 0x80);
    return 0;
}

void wr_guid_format(const wr_guid *g, int upper, char out[37])
{
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    char *o = out;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *o++ = '-';
        *o++ = digits[g->b[i] >> 4];
        *o++ = digits[g->b[i] & 15];
    }
    *o = 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int wr_guid_parse(wr_guid *g, const char *text)
{
    if (strncasecmp(text, "uuid:", 5) == 0)
        text += 5;
    if (strlen(text) != 36)
        return WINRSH_EPROTO;
    int j = 0;
    for (int i = 0; i < 36;) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (text[i] != '-')
                return WINRSH_EPROTO;
            i++;
            continue;
        }
        int hi = hexval(text[i]), lo = hexval(text[i + 1]);
        if (hi < 0 || lo < 0)
            return WINRSH_EPROTO;
        g->b[j++] = (unsigned char)(hi << 4 | lo);
        i += 2;
    }
    return 0;
}

/* Data1 (4 bytes), Data2 and Data3 (2 bytes each) are swapped. */
static const int DOTNET_ORDER[16] = {3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15};

void wr_guid_to_dotnet(const wr_guid *g, unsigned char out[16])
{
    for (int i = 0; i < 16; i++)
        out[i] = g->b[DOTNET_ORDER[i]];
}

void wr_guid_from_dotnet(wr_guid *g, const unsigned char in[16])
{
    for (int i = 0; i < 16; i++)
        g->b[DOTNET_ORDER[i]] = in[i];
}
