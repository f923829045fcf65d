/*
 * ProcessPrng for wine versions whose bcryptprimitives.dll lacks it.
 *
 * Rust's standard library (1.78 and later) draws its random numbers on Windows from
 * ProcessPrng in bcryptprimitives.dll. Wine 8 has no such export, so every Rust test binary
 * fails to start under it. This DLL exports ProcessPrng and fills the buffer through
 * RtlGenRandom (SystemFunction036 in advapi32), which wine implements. It is for running the
 * test suite under wine only; it is never shipped.
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG chunk = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}

BOOL WINAPI DllMain(HINSTANCE instance, DWORD reason, LPVOID reserved)
{
    (void)instance;
    (void)reason;
    (void)reserved;
    return TRUE;
}
