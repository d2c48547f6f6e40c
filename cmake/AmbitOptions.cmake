# Compiler flags shared by every Ambit target. Applied through the ambit_options interface target
# so third-party code (generated protobuf) can opt out of -Werror.
add_library(ambit_options INTERFACE)
target_compile_options(ambit_options INTERFACE -Wall -Wextra -Werror)
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  # GCC 12's optimizer reports false positives through absl::StatusOr and std::string at -O2/-O3
  # (GCC PR 105562, 105329, 106199); they would make Release builds fail under -Werror.
  # -Warray-bounds/-Wstringop-*: protobuf Map<string,...>::operator[] with a literal key (PR 107138).
  target_compile_options(ambit_options INTERFACE -Wno-maybe-uninitialized -Wno-restrict -Wno-array-bounds
                         -Wno-stringop-overread -Wno-stringop-overflow)
endif()
target_compile_definitions(ambit_options INTERFACE
  BOOST_ASIO_NO_DEPRECATED
  OPENSSL_API_COMPAT=30000
  OPENSSL_NO_DEPRECATED)

if(AMBIT_SANITIZE)
  # Everything, including generated code, so a bug anywhere is caught in tests.
  add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=undefined
                      -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()
