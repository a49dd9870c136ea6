/*
 * ntlm_core.h: NTLM (MS-NLMP) without any transport: message building and
 * parsing, NTLMv2 responses, key derivation, signing and sealing.
 *
 * Policy (see ntlm_core.c for the reasons):
 *  - client only, NTLMv2 only. A CHALLENGE that does not offer Unicode,
 *    extended session security or a TargetInfo block (i.e. a server that
 *    would make us fall back to LM/NTLMv1 keys or responses) is refused with
 *    WINRSH_EAUTH. Sealing below 128-bit keys is refused.
 *  - every length and offset in a peer's message is checked against the
 *    message before it is used; malformed input gives WINRSH_EPROTO.
 *
 * Strings passed in are UTF-8; the wire form is UTF-16LE (we always
 * negotiate NTLMSSP_NEGOTIATE_UNICODE).
 */
#ifndef WR_NTLM_CORE_H
#define WR_NTLM_CORE_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "transport/crypto/rc4.h"

/* NegotiateFlags (MS-NLMP 2.2.2.5). */
#define WR_NTLM_NEGOTIATE_UNICODE 0x00000001u
#define WR_NTLM_NEGOTIATE_OEM 0x00000002u
#define WR_NTLM_REQUEST_TARGET 0x00000004u
#define WR_NTLM_NEGOTIATE_SIGN 0x00000010u
#define WR_NTLM_NEGOTIATE_SEAL 0x00000020u
#define WR_NTLM_NEGOTIATE_DATAGRAM 0x00000040u
#define WR_NTLM_NEGOTIATE_LM_KEY 0x00000080u
#define WR_NTLM_NEGOTIATE_NTLM 0x00000200u
#define WR_NTLM_NEGOTIATE_ANONYMOUS 0x00000800u
#define WR_NTLM_NEGOTIATE_OEM_DOMAIN_SUPPLIED 0x00001000u
#define WR_NTLM_NEGOTIATE_OEM_WORKSTATION_SUPPLIED 0x00002000u
#define WR_NTLM_NEGOTIATE_ALWAYS_SIGN 0x00008000u
#define WR_NTLM_TARGET_TYPE_DOMAIN 0x00010000u
#define WR_NTLM_TARGET_TYPE_SERVER 0x00020000u
#define WR_NTLM_NEGOTIATE_EXTENDED_SESSIONSECURITY 0x00080000u
#define WR_NTLM_NEGOTIATE_IDENTIFY 0x00100000u
#define WR_NTLM_REQUEST_NON_NT_SESSION_KEY 0x00400000u
#define WR_NTLM_NEGOTIATE_TARGET_INFO 0x00800000u
#define WR_NTLM_NEGOTIATE_VERSION 0x02000000u
#define WR_NTLM_NEGOTIATE_128 0x20000000u
#define WR_NTLM_NEGOTIATE_KEY_EXCH 0x40000000u
#define WR_NTLM_NEGOTIATE_56 0x80000000u

/* What we put in NEGOTIATE, like a Windows client asking for
 * confidentiality: UNICODE, REQUEST_TARGET, SIGN, SEAL, NTLM, ALWAYS_SIGN,
 * EXTENDED_SESSIONSECURITY, VERSION, 128, KEY_EXCH, 56 (= 0xE2088235).
 * No OEM, no LM_KEY: we never use either. */
#define WR_NTLM_CLIENT_FLAGS                                                                       \
    (WR_NTLM_NEGOTIATE_UNICODE | WR_NTLM_REQUEST_TARGET | WR_NTLM_NEGOTIATE_SIGN |                 \
     WR_NTLM_NEGOTIATE_SEAL | WR_NTLM_NEGOTIATE_NTLM | WR_NTLM_NEGOTIATE_ALWAYS_SIGN |             \
     WR_NTLM_NEGOTIATE_EXTENDED_SESSIONSECURITY | WR_NTLM_NEGOTIATE_VERSION |                      \
     WR_NTLM_NEGOTIATE_128 | WR_NTLM_NEGOTIATE_KEY_EXCH | WR_NTLM_NEGOTIATE_56)

/* AV pair ids (MS-NLMP 2.2.2.1). */
enum {
    WR_NTLM_AV_EOL = 0,
    WR_NTLM_AV_NB_COMPUTER = 1,
    WR_NTLM_AV_NB_DOMAIN = 2,
    WR_NTLM_AV_DNS_COMPUTER = 3,
    WR_NTLM_AV_DNS_DOMAIN = 4,
    WR_NTLM_AV_DNS_TREE = 5,
    WR_NTLM_AV_FLAGS = 6,
    WR_NTLM_AV_TIMESTAMP = 7,
    WR_NTLM_AV_SINGLE_HOST = 8,
    WR_NTLM_AV_TARGET_NAME = 9,
    WR_NTLM_AV_CHANNEL_BINDINGS = 10
};
/* MsvAvFlags bits. */
#define WR_NTLM_AVFLAG_CONSTRAINED 0x1u
#define WR_NTLM_AVFLAG_MIC 0x2u
#define WR_NTLM_AVFLAG_UNTRUSTED_SPN 0x4u

/* The VERSION structure we send (2.2.2.10): 10.0, build 0, NTLM revision 15. */
extern const unsigned char wr_ntlm_client_version[8];

/* A view into a byte string (usually a field of a message). */
typedef struct wr_ntlm_bytes {
    const unsigned char *p;
    size_t len;
} wr_ntlm_bytes;

/* ---- Text --------------------------------------------------------------- */

/* Append the UTF-16LE form of UTF-8 text; `upper` maps letters to upper case
 * as Windows does for the NTOWFv2 user name (ASCII, Latin-1, Latin
 * Extended-A, Greek and Cyrillic; other characters are kept). WINRSH_EINVAL
 * for invalid UTF-8. */
int wr_ntlm_utf16le(wr_buf *out, const char *utf8, size_t len, int upper);
/* Append the UTF-8 form of UTF-16LE bytes (for names in AV pairs/traces).
 * WINRSH_EPROTO for an odd length or broken surrogates. */
int wr_ntlm_utf8(wr_buf *out, const unsigned char *utf16, size_t len);

/* Split a user name: "DOMAIN\user" -> ("DOMAIN", "user"); "user@realm" and
 * "user" -> (empty, whole name). A UPN goes whole into UserName with an empty
 * DomainName, as in the real AUTHENTICATE of tests/fixtures/pyspnego
 * (the DC resolves the UPN); NTOWFv2 then hashes UPPER(UPN) with no domain.
 * Heap copies; free() them. */
int wr_ntlm_split_user(const char *name, char **user, char **domain);

/* ---- One-way functions and keys (MS-NLMP 3.3, 3.4.5) --------------------- */

/* NTOWFv1 = MD4(UTF-16LE(password)). */
int wr_ntlm_ntowfv1(const char *password, unsigned char out[16]);
/* NTOWFv2 = HMAC-MD5(NTOWFv1, UTF-16LE(UPPER(user) || domain)). */
int wr_ntlm_ntowfv2(const unsigned char nt_hash[16], const char *user, const char *domain,
                    unsigned char out[16]);
/* NTLMv2 (3.3.2). Appends NtChallengeResponse = NTProofStr || temp to
 * `nt_response`, where temp = 01 01 Z(6) time client_chal Z(4) av Z(4);
 * writes SessionBaseKey = HMAC-MD5(key, NTProofStr). */
int wr_ntlm_ntv2_response(const unsigned char key[16], const unsigned char server_chal[8],
                          const unsigned char client_chal[8], uint64_t filetime,
                          const unsigned char *av, size_t av_len, wr_buf *nt_response,
                          unsigned char session_base_key[16]);
/* LMv2: HMAC-MD5(key, server_chal || client_chal) || client_chal. */
int wr_ntlm_lmv2_response(const unsigned char key[16], const unsigned char server_chal[8],
                          const unsigned char client_chal[8], unsigned char out[24]);
/* RC4K(key, data) for 16-byte values (key exchange). */
void wr_ntlm_rc4k(const unsigned char key[16], const unsigned char in[16], unsigned char out[16]);
/* SIGNKEY / SEALKEY with extended session security (3.4.5.2, 3.4.5.3).
 * `server` = 0: client-to-server key, 1: server-to-client key. The seal key
 * length follows the 128 / 56 flags (40-bit otherwise). */
int wr_ntlm_sign_key(const unsigned char esk[16], int server, unsigned char out[16]);
int wr_ntlm_seal_key(uint32_t flags, const unsigned char esk[16], int server,
                     unsigned char out[16]);
/* MD5 of the gss_channel_bindings_struct (3.1.5.1.2, RFC 2744 3.11) with
 * null addresses and `app_data` as application data; 16 zero bytes when
 * app_data is NULL (no channel binding). */
int wr_ntlm_channel_bindings_hash(const unsigned char *app_data, size_t len, unsigned char out[16]);
/* 100 ns intervals since 1601-01-01 UTC. */
uint64_t wr_ntlm_filetime_now(void);

/* ---- Messages (MS-NLMP 2.2.1) ------------------------------------------- */

/* NEGOTIATE_MESSAGE without domain or workstation. version may be NULL. */
int wr_ntlm_negotiate_build(uint32_t flags, const unsigned char *version, wr_buf *out);

/* What a TargetInfo block says (the pairs we use). Views point into it. */
typedef struct wr_ntlm_av_info {
    wr_ntlm_bytes nb_computer, nb_domain, dns_computer, dns_domain, dns_tree, target_name;
    int has_flags, has_timestamp, has_channel_bindings;
    uint32_t flags;
    uint64_t timestamp;
    unsigned char channel_bindings[16];
    size_t count; /* pairs before MsvAvEOL */
} wr_ntlm_av_info;
/* Walk AV pairs: every pair must fit, fixed-size pairs must have their size,
 * names must be whole UTF-16 code units, and the list must end with
 * MsvAvEOL (nothing may follow it). WINRSH_EPROTO otherwise. */
int wr_ntlm_av_parse(const unsigned char *av, size_t len, wr_ntlm_av_info *info);

typedef struct wr_ntlm_challenge {
    uint32_t flags;
    unsigned char server_challenge[8];
    wr_ntlm_bytes target_name; /* UTF-16LE */
    wr_ntlm_bytes target_info; /* the raw AV pair list */
    wr_ntlm_av_info av;
    int has_version;
    unsigned char version[8];
} wr_ntlm_challenge;
/* Parse (and bounds-check) a CHALLENGE_MESSAGE; views point into msg.
 * Only the structure is checked here; wr_ntlm_client_authenticate applies
 * the policy. WINRSH_EPROTO if malformed. */
int wr_ntlm_challenge_parse(const unsigned char *msg, size_t len, wr_ntlm_challenge *ch);

/* AUTHENTICATE_MESSAGE fields (2.2.1.3). Names are UTF-16LE. */
typedef struct wr_ntlm_authenticate {
    uint32_t flags;
    wr_ntlm_bytes lm, nt, domain, user, workstation, session_key;
    const unsigned char *version; /* 8 bytes, or NULL: no Version field */
    const unsigned char *mic;     /* 16 bytes, or NULL: no MIC field (build: zeros) */
} wr_ntlm_authenticate;
/* Build: header, Version (if a->version), MIC (if a->mic != NULL, written as
 * zeros and its offset returned in *mic_off), then the payload in the order
 * domain, user, workstation, LM, NT, session key (as in MS-NLMP 4.2.4). */
int wr_ntlm_authenticate_build(const wr_ntlm_authenticate *a, wr_buf *out, size_t *mic_off);
/* Parse and bounds-check; views point into msg. The Version field is taken
 * when NEGOTIATE_VERSION is set and the payload starts at 72 or later, the
 * MIC when the NTLMv2 response's MsvAvFlags has the MIC bit (then the
 * payload must start at 88 or later). */
int wr_ntlm_authenticate_parse(const unsigned char *msg, size_t len, wr_ntlm_authenticate *a);

/* ---- Session security (3.4) -------------------------------------------- */

typedef struct wr_ntlm_dir {
    unsigned char sign_key[16];
    wr_rc4 seal; /* the sealing handle; its keystream runs for the session */
    uint32_t seq;
} wr_ntlm_dir;

typedef struct wr_ntlm_session {
    uint32_t flags;                 /* the negotiated flags */
    unsigned char exported_key[16]; /* ExportedSessionKey */
    wr_ntlm_dir out, in;            /* what we send / what we receive */
} wr_ntlm_session;

/* Derive keys for one end. as_server = 1 swaps the directions (tests and
 * loopback use). Requires extended session security. */
int wr_ntlm_session_init(wr_ntlm_session *s, uint32_t flags, const unsigned char esk[16],
                         int as_server);
void wr_ntlm_session_wipe(wr_ntlm_session *s);
/* Seal `len` bytes (RC4 with the outgoing handle; in == out allowed) and
 * write the 16-byte signature (3.4.3, 3.4.4.2): version 1, checksum =
 * HMAC-MD5(SignKey, seq || plaintext)[0..7], RC4-encrypted with the same
 * handle right after the data when KEY_EXCH was negotiated, seq. */
int wr_ntlm_seal(wr_ntlm_session *s, const unsigned char *in, size_t len, unsigned char *out,
                 unsigned char sig[16]);
/* The reverse, for the incoming direction. WINRSH_EAUTH when the signature
 * or sequence number does not match (constant-time comparison). */
int wr_ntlm_unseal(wr_ntlm_session *s, const unsigned char *in, size_t len, unsigned char *out,
                   const unsigned char sig[16]);
/* Sign / verify without sealing (GSS_GetMIC / VerifyMIC, e.g. the SPNEGO
 * mechListMIC): same MAC, same handles and sequence numbers. */
int wr_ntlm_sign(wr_ntlm_session *s, const unsigned char *data, size_t len, unsigned char sig[16]);
int wr_ntlm_verify(wr_ntlm_session *s, const unsigned char *data, size_t len,
                   const unsigned char sig[16]);

/* ---- The client side of the exchange ------------------------------------ */

typedef struct wr_ntlm_hooks {
    /* Fill n random bytes; 0 or a negative code. NULL: OpenSSL RAND_bytes. */
    int (*random)(void *arg, unsigned char *out, size_t n);
    /* FILETIME now. NULL: the system clock. */
    uint64_t (*now)(void *arg);
    void *arg;
} wr_ntlm_hooks;

typedef struct wr_ntlm_client_input {
    const char *user, *domain;             /* UTF-8, already split */
    const char *workstation;               /* NULL or "" : none sent */
    const unsigned char *nt_hash;          /* NTOWFv1 (16 bytes) */
    const char *target_name;               /* SPN for MsvAvTargetName, or NULL */
    const unsigned char *channel_bindings; /* application data, or NULL */
    size_t channel_bindings_len;
    wr_ntlm_bytes negotiate;    /* the NEGOTIATE we sent (for the MIC) */
    wr_ntlm_bytes challenge;    /* the server's CHALLENGE */
    const wr_ntlm_hooks *hooks; /* NULL: real randomness and time */
} wr_ntlm_client_input;

/* Check the CHALLENGE against our policy, build AUTHENTICATE (NTLMv2 with
 * the server's AV pairs + MsvAvFlags(MIC) + MsvAvChannelBindings +
 * MsvAvTargetName, LmChallengeResponse Z(24) when the server sent a
 * timestamp, key exchange, Version, MIC) into `out`, and set up `sess`. */
int wr_ntlm_client_authenticate(const wr_ntlm_client_input *in, wr_buf *out, wr_ntlm_session *sess);

/* ---- The mechanism (ntlm.c) --------------------------------------------- */

struct wr_auth_mech;
struct wr_auth_ctx;
/* The mechanism itself (wr_auth_ntlm) is declared with the others in auth.h. */
/* Replace randomness/time of a wr_auth_ntlm context (tests). */
void wr_ntlm_auth_set_hooks(struct wr_auth_ctx *ctx, const wr_ntlm_hooks *hooks);
/* The session of a completed wr_auth_ntlm context, or NULL (for SPNEGO's
 * mechListMIC via wr_ntlm_sign/wr_ntlm_verify). */
wr_ntlm_session *wr_ntlm_auth_session(struct wr_auth_ctx *ctx);

#endif
