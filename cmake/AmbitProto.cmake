# ambit_proto_library(<target> PROTOS a.proto ... [GRPC])
#
# Runs protoc (and grpc_cpp_plugin with GRPC) on .proto files under api/, keeping their package
# paths, and builds a static library. Generated code is compiled without -Werror: it is not ours.
find_program(GRPC_CPP_PLUGIN grpc_cpp_plugin REQUIRED)

function(ambit_proto_library target)
  cmake_parse_arguments(P "GRPC" "" "PROTOS" ${ARGN})
  set(gen_dir ${PROJECT_BINARY_DIR}/api_gen)
  set(srcs)
  foreach(proto ${P_PROTOS})
    get_filename_component(abs ${proto} ABSOLUTE)
    file(RELATIVE_PATH rel ${PROJECT_SOURCE_DIR}/api ${abs})
    string(REGEX REPLACE "\\.proto$" "" base ${rel})
    set(outs ${gen_dir}/${base}.pb.cc ${gen_dir}/${base}.pb.h)
    set(args --cpp_out=${gen_dir})
    if(P_GRPC)
      list(APPEND outs ${gen_dir}/${base}.grpc.pb.cc ${gen_dir}/${base}.grpc.pb.h)
      list(APPEND args --grpc_out=${gen_dir} --plugin=protoc-gen-grpc=${GRPC_CPP_PLUGIN})
    endif()
    add_custom_command(
      OUTPUT ${outs}
      COMMAND ${CMAKE_COMMAND} -E make_directory ${gen_dir}
      COMMAND protobuf::protoc -I${PROJECT_SOURCE_DIR}/api ${args} ${abs}
      DEPENDS ${abs} protobuf::protoc
      COMMENT "protoc ${rel}"
      VERBATIM)
    list(APPEND srcs ${gen_dir}/${base}.pb.cc)
    if(P_GRPC)
      list(APPEND srcs ${gen_dir}/${base}.grpc.pb.cc)
    endif()
  endforeach()
  add_library(${target} STATIC ${srcs})
  target_include_directories(${target} SYSTEM PUBLIC ${gen_dir})
  target_link_libraries(${target} PUBLIC protobuf::libprotobuf)
  if(P_GRPC)
    target_link_libraries(${target} PUBLIC PkgConfig::GRPCPP)
  endif()
endfunction()
