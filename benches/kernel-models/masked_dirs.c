// Five masked directories: a read-only tmpfs each (MODE 0) or one tmpfs bound onto the others
// (MODE 1); the mounts and fork-to-reap with the teardown. Usage: masked_dirs MODE
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sched.h>
#include <time.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <sys/stat.h>
static double now(){ struct timespec t; clock_gettime(CLOCK_MONOTONIC,&t); return t.tv_sec*1e6+t.tv_nsec/1e3; }
int cmp(const void*a,const void*b){ double x=*(double*)a,y=*(double*)b; return x<y?-1:x>y;}
int main(int argc,char**argv){ int mode=atoi(argv[1]); int N=5, n=300; double *d=calloc(n,8), *m=calloc(n,8);
 for(int k=0;k<N;k++){ char p[64]; snprintf(p,64,"/var/tmp/nsbox-kernel-models/md%d",k); mkdir(p,0755);} 
 for(int i=0;i<n;i++){ int pp[2]; pipe(pp); double t=now(); pid_t pid=fork(); if(pid==0){ unshare(CLONE_NEWNS); mount(0,"/",0,MS_REC|MS_PRIVATE,0); double t1=now();
   int fl=MS_RDONLY|MS_NOSUID|MS_NODEV|MS_NOEXEC;
   for(int k=0;k<N;k++){ char p[64]; snprintf(p,64,"/var/tmp/nsbox-kernel-models/md%d",k);
     if(mode==0 || k==0) { if(mount("tmpfs",p,"tmpfs",fl,0)) perror("tmpfs"); }
     else { if(mount("/var/tmp/nsbox-kernel-models/md0",p,0,MS_BIND,0)) perror("bind"); } }
   double e=now()-t1; write(pp[1],&e,8); _exit(0);} double e; read(pp[0],&e,8); waitpid(pid,0,0); d[i]=now()-t; m[i]=e; close(pp[0]); close(pp[1]); usleep(500);} 
 qsort(d,n,8,cmp); qsort(m,n,8,cmp); printf("%s: the %d mounts p50 %.1f us; fork->reaped (with teardown) p50 %.0f us\n", mode?"1 tmpfs + binds":"a tmpfs each", N, m[n/2], d[n/2]); }
