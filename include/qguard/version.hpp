/* qguard's version as macros, readable from C and C++ (CMakeLists.txt takes the project version
   from here). At run time, qguard_version() in qguard/qguard.h gives the library's own. */
#ifndef QGUARD_VERSION_HPP
#define QGUARD_VERSION_HPP

#define QGUARD_VERSION_MAJOR 0
#define QGUARD_VERSION_MINOR 2
#define QGUARD_VERSION_PATCH 0

#define QGUARD_VERSION_STRINGIFY_(x) #x
#define QGUARD_VERSION_STRINGIFY(x) QGUARD_VERSION_STRINGIFY_(x)
/* "MAJOR.MINOR.PATCH" */
#define QGUARD_VERSION_STRING                                                                   \
  QGUARD_VERSION_STRINGIFY(QGUARD_VERSION_MAJOR) "." QGUARD_VERSION_STRINGIFY(QGUARD_VERSION_MINOR) "." \
      QGUARD_VERSION_STRINGIFY(QGUARD_VERSION_PATCH)
/* One number that grows with each release, for #if: MAJOR * 10000 + MINOR * 100 + PATCH. */
#define QGUARD_VERSION (QGUARD_VERSION_MAJOR * 10000 + QGUARD_VERSION_MINOR * 100 + QGUARD_VERSION_PATCH)

#endif
