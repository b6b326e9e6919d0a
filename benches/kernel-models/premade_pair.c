// A new user+network namespace (and five more) made by the clone, against a pre-made pair entered
// by an intermediate that clones the other five: with the intermediate a fork or sharing the
// caller's memory (CLONE_VM), for a small and a 100 MB caller (docs/benchmarks.md, issue 17).
// Usage: premade_pair N CALLER_MB VM(0|1)
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <fcntl.h>
#include <time.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/mman.h>
#include <sys/ioctl.h>
#include <net/if.h>
#include <sys/socket.h>
#include <pthread.h>
static double now(){ struct timespec t; clock_gettime(CLOCK_MONOTONIC,&t); return t.tv_sec*1e6+t.tv_nsec/1e3; }
static void wmap(int pid){ char p[64]; int fd;
  snprintf(p,64,"/proc/%d/uid_map",pid); fd=open(p,O_WRONLY); if(write(fd,"0 0 65536\n",10)!=10) perror("map"); close(fd);
  snprintf(p,64,"/proc/%d/gid_map",pid); fd=open(p,O_WRONLY); if(write(fd,"0 0 65536\n",10)!=10) perror("map"); close(fd);}
static int lo_up(){ int s=socket(AF_INET,SOCK_DGRAM,0); struct ifreq r={0}; strcpy(r.ifr_name,"lo"); ioctl(s,SIOCGIFFLAGS,&r); r.ifr_flags|=IFF_UP; int e=ioctl(s,SIOCSIFFLAGS,&r); close(s); return e;}
#define FIVE (CLONE_NEWNS|CLONE_NEWUTS|CLONE_NEWIPC|CLONE_NEWPID|CLONE_NEWCGROUP)
#define SZ (1<<16)
static char *stk1, *stk2; static int pp[2]; static int vm;
struct pair { int user, net; }; static struct pair cur;
static int setup_fresh(void*x){ char c; read(pp[0],&c,1); return lo_up() ? 9 : 0; }
static int setup_joined(void*x){ return 0; }
static void fresh(){ pipe(pp); int pid=clone(setup_fresh, stk1+SZ, FIVE|CLONE_NEWUSER|CLONE_NEWNET|CLONE_VM|SIGCHLD, 0); if(pid<0) perror("clone");
  wmap(pid); write(pp[1],"x",1); int st; waitpid(pid,&st,0); if(st) fprintf(stderr,"fresh status %x\n",st); close(pp[0]); close(pp[1]);}
static int pair_child(void*x){ char c; read(pp[0],&c,1); lo_up(); write(pp[1],"y",1); pause(); return 0; }
static struct pair make_pair(){ pipe(pp); int pid=clone(pair_child, stk1+SZ, CLONE_NEWUSER|CLONE_NEWNET|CLONE_VM|SIGCHLD, 0);
  wmap(pid); write(pp[1],"x",1); usleep(0); char c; 
  /* wait until child consumed x and wrote y */ for(;;){ if(read(pp[0],&c,1)==1 && c=='y') break; write(pp[1],&c,1);} 
  char path[64]; struct pair r; snprintf(path,64,"/proc/%d/ns/user",pid); r.user=open(path,O_RDONLY|O_CLOEXEC);
  snprintf(path,64,"/proc/%d/ns/net",pid); r.net=open(path,O_RDONLY|O_CLOEXEC); kill(pid,SIGKILL); waitpid(pid,0,0); close(pp[0]); close(pp[1]); return r;}
static int inter(void*x){ if(setns(cur.user,CLONE_NEWUSER)) return 100+errno; if(setns(cur.net,CLONE_NEWNET)) return 200+errno;
  int pid = vm ? clone(setup_joined, stk2+SZ, FIVE|CLONE_PARENT|CLONE_VM, 0) : clone(setup_joined, stk2+SZ, FIVE|CLONE_PARENT, 0);
  return pid<0 ? 300+errno : 0; }
static void joined(){ int pid = clone(inter, stk1+SZ, (vm?CLONE_VM:0)|SIGCHLD, 0); int st, k=0; pid_t w;
  while((w=waitpid(-1,&st,__WALL))>0){ k++; if(st) fprintf(stderr,"%s status %x\n", w==pid?"intermediate":"setup", st);} if(k!=2) fprintf(stderr,"reaped %d\n",k); }
static void *spin(void*x){ for(;;) pause(); }
int cmp(const void*a,const void*b){ double x=*(double*)a,y=*(double*)b; return x<y?-1:x>y;}
int main(int argc,char**argv){ int n=atoi(argv[1]); size_t mb=atoi(argv[2]); vm=atoi(argv[3]);
  pthread_t t; pthread_create(&t,0,spin,0);
  stk1=mmap(0,SZ,3,MAP_PRIVATE|MAP_ANONYMOUS,-1,0); stk2=mmap(0,SZ,3,MAP_PRIVATE|MAP_ANONYMOUS,-1,0);
  if(mb){ char*m=malloc(mb<<20); memset(m,1,mb<<20);}
  double *f=calloc(n,8),*j=calloc(n,8),*pm=calloc(n,8);
  for(int i=0;i<n;i++){ double t=now(); fresh(); f[i]=now()-t; usleep(1000);
    t=now(); cur=make_pair(); pm[i]=now()-t; usleep(1000);
    t=now(); joined(); j[i]=now()-t; close(cur.user); close(cur.net); usleep(1000);}
  qsort(f,n,8,cmp); qsort(j,n,8,cmp); qsort(pm,n,8,cmp);
  printf("caller %3zu MB, intermediate %s: new user+net p50 %4.0f us | pre-made pair joined p50 %4.0f us (%.2fx) | making a pair p50 %4.0f us\n",mb,vm?"CLONE_VM":"fork    ",f[n/2],j[n/2],j[n/2]/f[n/2],pm[n/2]);
}
