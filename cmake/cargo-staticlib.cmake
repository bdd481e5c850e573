# Builds libresmgr.a: `cmake -DNATIVE_LIBS_FILE=F -P cargo-staticlib.cmake
# CARGO ARGS...` runs `CARGO ARGS... -- --print native-static-libs`, shows
# its output, and writes the system libraries rustc names for the archive
# (the line "native-static-libs: -lgcc_s -lutil ...") to F, one link
# argument a line, when they changed. Cargo replays that line on a build
# with nothing to do, so F always matches the archive. Programs link F with
# -Wl,@F (GNU ld and lld read arguments from a file).
cmake_minimum_required(VERSION 3.18)

set(_command "")
set(_take OFF)
math(EXPR _last "${CMAKE_ARGC} - 1")
foreach(_i RANGE ${_last})
  if(_take)
    list(APPEND _command "${CMAKE_ARGV${_i}}")
  elseif(CMAKE_ARGV${_i} STREQUAL "-P")
    # The next argument is this script; the command follows it.
    math(EXPR _script "${_i} + 1")
    set(_skip ${_script})
  endif()
  if(DEFINED _skip AND _i EQUAL _skip)
    set(_take ON)
  endif()
endforeach()
if(NOT _command OR NOT NATIVE_LIBS_FILE)
  message(FATAL_ERROR "usage: cmake -DNATIVE_LIBS_FILE=F -P cargo-staticlib.cmake CARGO ARGS...")
endif()

execute_process(
  COMMAND ${_command} -- --print native-static-libs
  RESULT_VARIABLE _rc
  ERROR_VARIABLE _stderr
  ECHO_ERROR_VARIABLE)
if(NOT _rc EQUAL 0)
  message(FATAL_ERROR "cargo failed (${_rc})")
endif()
string(REGEX MATCH "native-static-libs:([^\n]*)" _line "${_stderr}")
if(NOT _line)
  message(FATAL_ERROR "rustc printed no native-static-libs line")
endif()
# Empty for a build without std (a bare-metal target needs none).
string(STRIP "${CMAKE_MATCH_1}" _libs)
separate_arguments(_libs UNIX_COMMAND "${_libs}")
list(JOIN _libs "\n" _content)
set(_content "${_content}\n")
if(EXISTS "${NATIVE_LIBS_FILE}")
  file(READ "${NATIVE_LIBS_FILE}" _old)
endif()
if(NOT _old STREQUAL _content)
  file(WRITE "${NATIVE_LIBS_FILE}" "${_content}")
endif()
