/*
 * winrsh.h: the public API of libwinrsh, in one include.
 * See errors.h for the error model, session.h for endpoints and shell.h for
 * the WinRS cmd shell, runspace.h for PowerShell Remoting and psobject.h for
 * the objects it returns.
 */
#ifndef WINRSH_WINRSH_H
#define WINRSH_WINRSH_H

#include "common.h"
#include "errors.h"
#include "psobject.h"
#include "runspace.h"
#include "session.h"
#include "shell.h"
#include "trustedhosts.h"

#endif
