{
  "targets": [
    {
      "target_name": "abstract_dgram",
      "sources": ["native/abstract_dgram.c"],
      "cflags": ["-Wall", "-Wextra", "-O2"]
    }
  ]
}
