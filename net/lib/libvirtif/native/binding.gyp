# node-gyp build of virtif's native host half (see virtif.c); build.mjs runs it.
{
  "targets": [
    {
      "target_name": "virtif",
      "sources": ["virtif.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"]
    }
  ]
}
