# qguard.pc for pkg-config. Its paths are relative to the file's own directory, so the install tree
# may move. A static library also names what its objects need: the C++ runtime and the private
# dependencies (`pkg-config --static --libs qguard` links a C program against libqguard.a).
set(pc_install_dir ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
file(RELATIVE_PATH pc_to_prefix /${pc_install_dir} /)
string(REGEX REPLACE "/$" "" pc_to_prefix "${pc_to_prefix}")
if(BUILD_SHARED_LIBS)
  set(pc_libs_private "")
  set(pc_requires_private "")
else()
  # libcurl and libcrypto by name, not as Requires.private: their own --static closure names libraries
  # (librtmp, libssh2, ...) whose -dev packages a system need not have; the shared ones suffice.
  set(pc_libs_private "-lstdc++ -lm -pthread -lcurl -lcrypto")
  set(pc_requires_private "fmt simdjson libutf8proc")
endif()
configure_file(${CMAKE_CURRENT_LIST_DIR}/qguard.pc.in ${PROJECT_BINARY_DIR}/qguard.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/qguard.pc DESTINATION ${pc_install_dir})
