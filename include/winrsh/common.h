/*
 * winrsh: a client for WinRM, WinRS and PowerShell Remoting.
 * common.h: export macro, library-wide initialisation and version.
 */
#ifndef WINRSH_COMMON_H
#define WINRSH_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
#define WINRSH_BEGIN_DECL extern "C" {
#define WINRSH_END_DECL }
#else
#define WINRSH_BEGIN_DECL
#define WINRSH_END_DECL
#endif

/* Every public function is marked with this; the library is built with
 * -fvisibility=hidden so nothing else leaks out of libwinrsh. */
#if defined(_WIN32) && defined(WINRSH_SHARED_BUILD)
#define WINRSH_EXTERN(type) __declspec(dllexport) type
#elif defined(__GNUC__)
#define WINRSH_EXTERN(type) __attribute__((visibility("default"))) type
#else
#define WINRSH_EXTERN(type) type
#endif

#define WINRSH_VERSION "0.1.0"
#define WINRSH_VERSION_MAJOR 0
#define WINRSH_VERSION_MINOR 1
#define WINRSH_VERSION_PATCH 0

WINRSH_BEGIN_DECL

/**
 * Initialise global state (libcurl, libxml2). Call once before any other
 * function, from one thread; it is reference counted, so each call needs a
 * matching winrsh_global_shutdown(). Returns 0 or a negative WINRSH_E* code.
 */
WINRSH_EXTERN(int) winrsh_global_init(void);

/** Release what winrsh_global_init() set up, when the count drops to zero. */
WINRSH_EXTERN(void) winrsh_global_shutdown(void);

/** The library's version string, e.g. "0.1.0". */
WINRSH_EXTERN(const char *) winrsh_version(void);

WINRSH_END_DECL

#endif
