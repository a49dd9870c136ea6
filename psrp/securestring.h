/*
 * securestring.h: SecureString values over PSRP (MS-PSRP 3.1.5.4.3,
 * 3.2.5.4.3; PROTOCOL.md 4 "SecureString"): the session key exchange and
 * the encryption of <SS> values.
 *
 *   client                                         server
 *   PUBLIC_KEY (2.2.2.3)            ->   (asked by PUBLIC_KEY_REQUEST 2.2.2.5,
 *                                         or unasked before the client's
 *                                         first <SS>)
 *                                   <-   ENCRYPTED_SESSION_KEY (2.2.2.4)
 *   <SS> values both ways: AES-256-CBC of the UTF-16LE text, PKCS#7
 *   padding, all-zero IV, base64.
 *
 * The blobs are Windows CryptoAPI key blobs:
 *
 *   PUBLICKEYBLOB (the PublicKey property, base64), 276 bytes:
 *   +--------+------+-------------------------------------------------+
 *   | offset | size | field                                           |
 *   +--------+------+-------------------------------------------------+
 *   |      0 |    1 | bType 0x06 PUBLICKEYBLOB                        |
 *   |      1 |    1 | bVersion 0x02                                   |
 *   |      2 |    2 | reserved 0                                      |
 *   |      4 |    4 | aiKeyAlg CALG_RSA_KEYX 0x0000A400 (LE)          |
 *   |      8 |    4 | magic "RSA1" (0x31415352 LE)                    |
 *   |     12 |    4 | bitlen 2048 (LE)                                |
 *   |     16 |    4 | public exponent (LE)                            |
 *   |     20 |  256 | modulus, little-endian                          |
 *   +--------+------+-------------------------------------------------+
 *
 *   SIMPLEBLOB (the EncryptedSessionKey property, base64), 268 bytes:
 *   +--------+------+-------------------------------------------------+
 *   |      0 |    1 | bType 0x01 SIMPLEBLOB                           |
 *   |      1 |    1 | bVersion 0x02                                   |
 *   |      2 |    2 | reserved 0                                      |
 *   |      4 |    4 | aiKeyAlg of the session key: CALG_AES_256 0x6610|
 *   |      8 |    4 | algid of the wrapping key: CALG_RSA_KEYX 0xA400 |
 *   |     12 |  256 | RSA PKCS#1 v1.5 ciphertext of the 32-byte AES   |
 *   |        |      | key, byte-reversed (little-endian)              |
 *   +--------+------+-------------------------------------------------+
 *
 * Secrets: plaintext and the session key only ever live in buffers sized
 * up front (no realloc leaves copies behind) and are wiped before free.
 */
#ifndef WR_PSRP_SECURESTRING_H
#define WR_PSRP_SECURESTRING_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

#define WR_SS_RSA_BITS 2048
#define WR_SS_MODULUS_LEN 256u
#define WR_SS_AES_KEY_LEN 32u
#define WR_SS_PUBLICKEYBLOB_LEN (20u + WR_SS_MODULUS_LEN)
#define WR_SS_SIMPLEBLOB_HEADER_LEN 12u

#define WR_SS_CALG_RSA_KEYX 0x0000A400u
#define WR_SS_CALG_AES_256 0x00006610u
#define WR_SS_PUBLICKEYBLOB 0x06u
#define WR_SS_SIMPLEBLOB 0x01u
#define WR_SS_CUR_BLOB_VERSION 0x02u
#define WR_SS_RSA1_MAGIC 0x31415352u

/* The client's side of one runspace pool's key exchange. */
typedef struct wr_ss_session {
    void *rsa; /* EVP_PKEY *: the exchange key pair, made on first use */
    unsigned char key[WR_SS_AES_KEY_LEN];
    int have_key;        /* ENCRYPTED_SESSION_KEY imported */
    int public_key_sent; /* PUBLIC_KEY went out */
    int key_requested;   /* PUBLIC_KEY_REQUEST seen, PUBLIC_KEY not sent yet */
} wr_ss_session;

/* Make the RSA-2048 exchange key pair if there is none yet. */
int wr_ss_make_keypair(wr_ss_session *s);

/* Append the PUBLICKEYBLOB of the exchange key (made if needed). */
int wr_ss_public_key_blob(wr_ss_session *s, wr_buf *out);

/* Unwrap a SIMPLEBLOB with the exchange key into s->key. WINRSH_EPROTO
 * if the blob is malformed or does not decrypt to a 32-byte AES key. */
int wr_ss_import_session_key(wr_ss_session *s, const void *blob, size_t len);

/* The same from the base64 text of the EncryptedSessionKey property. */
int wr_ss_import_session_key_b64(wr_ss_session *s, const char *b64, size_t len);

/* Encrypt `len` bytes of UTF-8 as an <SS> value: base64 text appended to
 * b64. Invalid UTF-8 becomes U+FFFD. */
int wr_ss_encrypt(const unsigned char key[WR_SS_AES_KEY_LEN], const char *utf8, size_t len,
                  wr_buf *b64);

/* Decrypt an <SS> value's base64 text into a fresh NUL-terminated UTF-8
 * string (*out, *out_len; free with wr_ss_free_plain). */
int wr_ss_decrypt(const unsigned char key[WR_SS_AES_KEY_LEN], const char *b64, size_t len,
                  char **out, size_t *out_len);

/* Wipe and free a plaintext from wr_ss_decrypt. NULL-safe. */
void wr_ss_free_plain(char *s, size_t len);

/* Wipe the session key, free the key pair. */
void wr_ss_session_clear(wr_ss_session *s);

/* UTF-8 -> UTF-16LE into a buffer of exactly 2 * wr_ss_utf16_units() bytes
 * (invalid sequences become U+FFFD); exposed for the tests. */
size_t wr_ss_utf16_units(const char *utf8, size_t len);
void wr_ss_to_utf16le(const char *utf8, size_t len, unsigned char *out);

/* ---- the runspace's side (psrp/runspace.c) -------------------------------
 *
 * A host call whose answer holds a SecureString (ReadLineAsSecureString,
 * PromptForCredential, a Prompt with SecureString or PSCredential fields)
 * arrives before any key exchange: the server asks for the key only when
 * it must encrypt something itself. host.c hands such a call to
 * wr_rs_defer_secure_call(); once the binding's receive returns, the
 * runspace sends PUBLIC_KEY, receives on the pool until
 * ENCRYPTED_SESSION_KEY arrives (bounded), and dispatches the call again,
 * now with the key. A PUBLIC_KEY_REQUEST is answered the same way.
 */
typedef struct winrsh_runspace winrsh_runspace;
typedef struct winrsh_pipeline winrsh_pipeline;
typedef struct winrsh_psobject winrsh_psobject;

/* The session key, or NULL until the exchange is done. */
const unsigned char *wr_rs_session_key(winrsh_runspace *rs);
/* Keep `call` (a reference is taken) for pipeline p (NULL: the pool). */
int wr_rs_defer_secure_call(winrsh_runspace *rs, winrsh_pipeline *p, const winrsh_psobject *call);

#endif
