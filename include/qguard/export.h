/* QGUARD_API marks what libqguard exports. Everything else in the library is compiled with hidden
   visibility, so the shared library shows only the public C and C++ API (C and C++ compatible). */
#ifndef QGUARD_EXPORT_H
#define QGUARD_EXPORT_H

#if defined(__GNUC__)
#define QGUARD_API __attribute__((visibility("default")))
#else
#define QGUARD_API
#endif

#endif
