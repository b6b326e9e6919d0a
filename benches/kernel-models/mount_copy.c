// What copying the caller's mount table costs a new mount namespace, and detaching it again,
// for a caller with EXTRA more mounts. Usage: mount_copy EXTRA
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
int main(int argc,char**argv){ int extra=atoi(argv[1]); int n=200;
  if(unshare(CLONE_NEWNS)) return 1; mount(0,"/",0,MS_REC|MS_PRIVATE,0);
  mkdir("/var/tmp/nsbox-kernel-models/mnts",0755); mount("t","/var/tmp/nsbox-kernel-models/mnts","tmpfs",0,0);
  for(int i=0;i<extra;i++){ char p[64]; snprintf(p,64,"/var/tmp/nsbox-kernel-models/mnts/%d",i); mkdir(p,0755); mount("t",p,"tmpfs",0,0);} 
  FILE*f=fopen("/proc/self/mountinfo","r"); int lines=0; char buf[4096]; while(fgets(buf,sizeof buf,f)) lines++; fclose(f);
  double *u=calloc(n,8), *d=calloc(n,8);
  for(int i=0;i<n;i++){ int p[2]; pipe(p); pid_t pid=fork(); if(pid==0){ double t=now(); unshare(CLONE_NEWNS); double e=now()-t;
      mount(0,"/",0,MS_REC|MS_PRIVATE,0); double t2=now(); umount2("/var/tmp/nsbox-kernel-models/mnts", MNT_DETACH); umount2("/proc", MNT_DETACH); double e2=now()-t2; double r[2]={e,e2}; write(p[1],r,16); _exit(0);} 
    double r[2]; read(p[0],r,16); waitpid(pid,0,0); u[i]=r[0]; d[i]=r[1]; close(p[0]); close(p[1]); }
  qsort(u,n,8,cmp); qsort(d,n,8,cmp);
  printf("%3d mounts in the caller: unshare(CLONE_NEWNS) p50 %5.0f us; detaching %d of them p50 %5.0f us\n", lines, u[n/2], extra+2, d[n/2]); }
