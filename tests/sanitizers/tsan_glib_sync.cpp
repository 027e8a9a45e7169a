// ThreadSanitizer and GLib: Debian's GLib and GStreamer are not instrumented, and GLib's mutexes,
// condition variables, bit locks and reference counts are futex calls and atomic instructions
// that TSan never sees. Every hand-over through them (a pad's stream lock, a GstTask's join, the
// last unref before a finalize) then looks like a race to TSan, in our code and in theirs.
//
// Linked only into the TSan builds of the element's test programs, and exported from them, these
// definitions stand in front of GLib's (the dynamic linker binds every library's calls to the
// program first): each calls GLib's own function and tells TSan what it means, so TSan sees the
// same happens-before edges that the real synchronisation provides and nothing more.
//  - lock: acquire on the lock's address after taking it; unlock: release before letting go;
//  - condition wait: the mutex is released while waiting and acquired again after;
//  - unref: release on the object, then acquire, so the thread that drops the last reference
//    (and runs finalize) is ordered after every thread that dropped one before;
//  - queues (GAsyncQueue, a GstBus): a push or post releases on the queue, a pop acquires.
// Calls inside one library do not pass through here (GLib's queue calls its own mutex
// directly), which is why the queues are covered at their own entry points.
#include <dlfcn.h>
#include <gst/gst.h>
#include <sanitizer/tsan_interface.h>

#include <cstdio>
#include <cstdlib>

// GLib's headers wrap these in type-checking macros; the functions behind them are what is defined.
#undef g_pointer_bit_lock
#undef g_pointer_bit_trylock
#undef g_pointer_bit_unlock

namespace {

// GLib's own definition of `name`, the next one after this program's in lookup order.
template <typename F>
F next_definition(const char* name) {
  void* f = dlsym(RTLD_NEXT, name);
  if (!f) {
    std::fprintf(stderr, "tsan_glib_sync: %s not found after the program\n", name);
    std::abort();
  }
  return reinterpret_cast<F>(f);
}

// A value through a queue: what the pusher wrote before is visible to the popper after.
gpointer popped(gpointer queue, gpointer item) {
  if (item) __tsan_acquire(queue);
  return item;
}

#define NEXT(name) static const auto real = next_definition<decltype(&name)>(#name)

}  // namespace

extern "C" {

void g_mutex_lock(GMutex* mutex) {
  NEXT(g_mutex_lock);
  real(mutex);
  __tsan_acquire(mutex);
}

gboolean g_mutex_trylock(GMutex* mutex) {
  NEXT(g_mutex_trylock);
  const gboolean taken = real(mutex);
  if (taken) __tsan_acquire(mutex);
  return taken;
}

void g_mutex_unlock(GMutex* mutex) {
  NEXT(g_mutex_unlock);
  __tsan_release(mutex);
  real(mutex);
}

void g_rec_mutex_lock(GRecMutex* mutex) {
  NEXT(g_rec_mutex_lock);
  real(mutex);
  __tsan_acquire(mutex);
}

gboolean g_rec_mutex_trylock(GRecMutex* mutex) {
  NEXT(g_rec_mutex_trylock);
  const gboolean taken = real(mutex);
  if (taken) __tsan_acquire(mutex);
  return taken;
}

void g_rec_mutex_unlock(GRecMutex* mutex) {
  NEXT(g_rec_mutex_unlock);
  __tsan_release(mutex);
  real(mutex);
}

void g_rw_lock_writer_lock(GRWLock* lock) {
  NEXT(g_rw_lock_writer_lock);
  real(lock);
  __tsan_acquire(lock);
}

void g_rw_lock_writer_unlock(GRWLock* lock) {
  NEXT(g_rw_lock_writer_unlock);
  __tsan_release(lock);
  real(lock);
}

void g_rw_lock_reader_lock(GRWLock* lock) {
  NEXT(g_rw_lock_reader_lock);
  real(lock);
  __tsan_acquire(lock);
}

void g_rw_lock_reader_unlock(GRWLock* lock) {
  NEXT(g_rw_lock_reader_unlock);
  __tsan_release(lock);
  real(lock);
}

void g_cond_wait(GCond* cond, GMutex* mutex) {
  NEXT(g_cond_wait);
  __tsan_release(mutex);
  real(cond, mutex);
  __tsan_acquire(mutex);
}

gboolean g_cond_wait_until(GCond* cond, GMutex* mutex, gint64 end_time) {
  NEXT(g_cond_wait_until);
  __tsan_release(mutex);
  const gboolean signalled = real(cond, mutex, end_time);
  __tsan_acquire(mutex);
  return signalled;
}

void g_bit_lock(volatile gint* address, gint lock_bit) {
  NEXT(g_bit_lock);
  real(address, lock_bit);
  __tsan_acquire(const_cast<gint*>(address));
}

gboolean g_bit_trylock(volatile gint* address, gint lock_bit) {
  NEXT(g_bit_trylock);
  const gboolean taken = real(address, lock_bit);
  if (taken) __tsan_acquire(const_cast<gint*>(address));
  return taken;
}

void g_bit_unlock(volatile gint* address, gint lock_bit) {
  NEXT(g_bit_unlock);
  __tsan_release(const_cast<gint*>(address));
  real(address, lock_bit);
}

void g_pointer_bit_lock(volatile void* address, gint lock_bit) {
  NEXT(g_pointer_bit_lock);
  real(address, lock_bit);
  __tsan_acquire(const_cast<void*>(address));
}

gboolean g_pointer_bit_trylock(volatile void* address, gint lock_bit) {
  NEXT(g_pointer_bit_trylock);
  const gboolean taken = real(address, lock_bit);
  if (taken) __tsan_acquire(const_cast<void*>(address));
  return taken;
}

void g_pointer_bit_unlock(volatile void* address, gint lock_bit) {
  NEXT(g_pointer_bit_unlock);
  __tsan_release(const_cast<void*>(address));
  real(address, lock_bit);
}

void g_object_unref(gpointer object) {
  NEXT(g_object_unref);
  __tsan_release(object);
  __tsan_acquire(object);
  real(object);
}

void gst_mini_object_unref(GstMiniObject* object) {
  NEXT(gst_mini_object_unref);
  __tsan_release(object);
  __tsan_acquire(object);
  real(object);
}

void g_async_queue_push(GAsyncQueue* queue, gpointer data) {
  NEXT(g_async_queue_push);
  __tsan_release(queue);
  real(queue, data);
}

void g_async_queue_push_front(GAsyncQueue* queue, gpointer data) {
  NEXT(g_async_queue_push_front);
  __tsan_release(queue);
  real(queue, data);
}

gpointer g_async_queue_pop(GAsyncQueue* queue) {
  NEXT(g_async_queue_pop);
  return popped(queue, real(queue));
}

gpointer g_async_queue_try_pop(GAsyncQueue* queue) {
  NEXT(g_async_queue_try_pop);
  return popped(queue, real(queue));
}

gpointer g_async_queue_timeout_pop(GAsyncQueue* queue, guint64 timeout) {
  NEXT(g_async_queue_timeout_pop);
  return popped(queue, real(queue, timeout));
}

gboolean gst_bus_post(GstBus* bus, GstMessage* message) {
  NEXT(gst_bus_post);
  __tsan_release(bus);
  return real(bus, message);
}

GstMessage* gst_bus_timed_pop_filtered(GstBus* bus, GstClockTime timeout, GstMessageType types) {
  NEXT(gst_bus_timed_pop_filtered);
  return static_cast<GstMessage*>(popped(bus, real(bus, timeout, types)));
}

GstMessage* gst_bus_pop_filtered(GstBus* bus, GstMessageType types) {
  NEXT(gst_bus_pop_filtered);
  return static_cast<GstMessage*>(popped(bus, real(bus, types)));
}

GstMessage* gst_bus_pop(GstBus* bus) {
  NEXT(gst_bus_pop);
  return static_cast<GstMessage*>(popped(bus, real(bus)));
}

GstMessage* gst_bus_timed_pop(GstBus* bus, GstClockTime timeout) {
  NEXT(gst_bus_timed_pop);
  return static_cast<GstMessage*>(popped(bus, real(bus, timeout)));
}

}  // extern "C"
