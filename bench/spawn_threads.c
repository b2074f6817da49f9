/* spawn_threads N: starts N threads that sleep forever, prints a marker on the console when
 * all exist, then sleeps. For bench/tasks_bench.sh: a guest with thousands of tasks. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void* sleeper(void* arg) {
  (void)arg;
  for (;;) pause();
  return NULL;
}

int main(int argc, char** argv) {
  int n = argc > 1 ? atoi(argv[1]) : 0, made = 0;
  pthread_attr_t a;
  pthread_attr_init(&a);
  pthread_attr_setstacksize(&a, 64 * 1024);
  for (int i = 0; i < n; ++i) {
    pthread_t t;
    if (pthread_create(&t, &a, sleeper, NULL) != 0) break;
    ++made;
  }
  printf("==TLPSTUB-THREADS %d==\n", made);
  fflush(stdout);
  for (;;) pause();
}
