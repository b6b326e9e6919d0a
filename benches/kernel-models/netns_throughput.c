// fork + unshare(FLAGS) + exit from two threads: processes per second. Usage: netns_throughput FLAGS
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sched.h>
#include <time.h>
#include <pthread.h>
#include <sys/wait.h>
static int flags; static int per=1000;
static double now(){ struct timespec t; clock_gettime(CLOCK_MONOTONIC,&t); return t.tv_sec+t.tv_nsec/1e9; }
static void* w(void*x){ for(int i=0;i<per;i++){ pid_t p=fork(); if(p==0){ if(flags && unshare(flags)) _exit(1); _exit(0);} waitpid(p,0,0);} return 0; }
int main(int c,char**v){ flags=strtol(v[1],0,0); pthread_t t[2]; double s=now(); for(int i=0;i<2;i++) pthread_create(&t[i],0,w,0); for(int i=0;i<2;i++) pthread_join(t[i],0); double e=now()-s; printf("flags %#x: %.0f/s\n", flags, 2*per/e); }
