# Install rules (included last by the top-level CMakeLists.txt, when every target exists):
# headers, libironlearn.{so,a}, the Lua module il.so, ilua, libironlearn_lua.a, the CMake
# package (ironlearnConfig.cmake, find_package(ironlearn)) and ironlearn.pc.
include(CMakePackageConfigHelpers)

set(IL_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/ironlearn)
# Lua's C module path for a `--prefix` install: lib/lua/5.4 is on Debian's and stock Lua's
# package.cpath under /usr/local; distributions may want e.g. lib/x86_64-linux-gnu/lua/5.4.
set(IL_LUA_CMOD_DIR ${CMAKE_INSTALL_LIBDIR}/lua/5.4 CACHE STRING
    "Where il.so is installed (relative to the prefix, or absolute)")

# The LuaRocks build (ironlearn-0.1.0-1.rockspec) wants il.so in the rock tree and nothing else.
option(IL_INSTALL_LUA_MODULE_ONLY "Install only the Lua module il.so (for LuaRocks)" OFF)
if(IL_INSTALL_LUA_MODULE_ONLY)
  if(IL_LUA)
    install(TARGETS il_lua LIBRARY DESTINATION ${IL_LUA_CMOD_DIR})
  endif()
  return()
endif()

install(DIRECTORY ${PROJECT_SOURCE_DIR}/core/include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS ironlearn ironlearn_static EXPORT ironlearnTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
# Consumers spell the static library ironlearn::static, as in the build tree.
set_target_properties(ironlearn_static PROPERTIES EXPORT_NAME static)

set(IL_HAVE_CUDA OFF)
set(IL_PC_LIBS_PRIVATE "")
if(TARGET il_cuda)
  set(IL_HAVE_CUDA ON)
  # Only the static library needs these: the shared one carries the CUDA runtime inside.
  set(IL_PC_LIBS_PRIVATE
      "-L${CUDAToolkit_LIBRARY_DIR} -lcublasLt -lcublas -lcudart_static -ldl -lrt")
endif()

if(IL_LUA)
  install(TARGETS il_lua LIBRARY DESTINATION ${IL_LUA_CMOD_DIR})
  install(TARGETS ilua RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
  install(TARGETS ironlearn_lua EXPORT ironlearnTargets
          ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
  set_target_properties(ironlearn_lua PROPERTIES EXPORT_NAME lua)
  install(FILES ${PROJECT_SOURCE_DIR}/lua/ironlearn_lua.h
          DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
endif()

install(EXPORT ironlearnTargets NAMESPACE ironlearn:: DESTINATION ${IL_CMAKE_DIR})
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/ironlearnConfig.cmake.in
  ${PROJECT_BINARY_DIR}/ironlearnConfig.cmake INSTALL_DESTINATION ${IL_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/ironlearnConfigVersion.cmake
  COMPATIBILITY SameMinorVersion) # 0.x: a minor release may break the API
install(FILES ${PROJECT_BINARY_DIR}/ironlearnConfig.cmake
              ${PROJECT_BINARY_DIR}/ironlearnConfigVersion.cmake
        DESTINATION ${IL_CMAKE_DIR})

# pkg-config: paths relative to the .pc file itself (${pcfiledir}), so that an install with
# `cmake --install --prefix DIR` (CI's temporary prefix) or a moved tree still resolves.
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
  set(IL_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
  set(IL_PC_LIBDIR "${CMAKE_INSTALL_LIBDIR}")
else()
  set(IL_PC_PREFIX "\${pcfiledir}/..")
  string(REGEX MATCHALL "[^/]+" _il_parts "${CMAKE_INSTALL_LIBDIR}")
  foreach(_p IN LISTS _il_parts)
    string(APPEND IL_PC_PREFIX "/..")
  endforeach()
  set(IL_PC_LIBDIR "\${prefix}/${CMAKE_INSTALL_LIBDIR}")
endif()
if(IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
  set(IL_PC_INCLUDEDIR "${CMAKE_INSTALL_INCLUDEDIR}")
else()
  set(IL_PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
endif()
configure_file(${CMAKE_CURRENT_LIST_DIR}/ironlearn.pc.in ${PROJECT_BINARY_DIR}/ironlearn.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/ironlearn.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
