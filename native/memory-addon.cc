/*
 * A Node addon for the cloud server's memory after a load (src/server/memory-settle.ts):
 *
 *   returnFreeMemory(): boolean   a memory-reducing full collection of V8's heap (what V8 does on
 *                                 the system's low-memory signal: its young generation shrinks
 *                                 back from the size load grew it to), then glibc's malloc_trim(0),
 *                                 which hands the free pages of every malloc arena back to the
 *                                 kernel; true when malloc_trim released some
 *
 * Node 20 offers neither from JavaScript (gc() needs --expose-gc at start; malloc_trim none).
 */
#include <malloc.h>
#include <node_api.h>
#include <v8.h>

static napi_value ReturnFreeMemory(napi_env env, napi_callback_info) {
  v8::Isolate *isolate = v8::Isolate::GetCurrent();
  if (isolate != nullptr) isolate->LowMemoryNotification();
  bool released = malloc_trim(0) != 0;
  napi_value result;
  if (napi_get_boolean(env, released, &result) != napi_ok) return nullptr;
  return result;
}

NAPI_MODULE_INIT() {
  napi_value function;
  if (napi_create_function(env, "returnFreeMemory", NAPI_AUTO_LENGTH, ReturnFreeMemory, nullptr, &function) != napi_ok) return nullptr;
  if (napi_set_named_property(env, exports, "returnFreeMemory", function) != napi_ok) return nullptr;
  return exports;
}
