/*
 * Intrusive doubly linked list. Objects that wait on something (requests on
 * a connection, cached files in LRU order) link themselves in, so removal is
 * O(1) and needs no allocation.
 */
#ifndef BFS_LIST_H
#define BFS_LIST_H

#include <stddef.h>

typedef struct bfs_list {
    struct bfs_list *prev, *next;
} bfs_list_t;

#define bfs_container_of(ptr, type, member) \
    ((type *)((char *)(ptr) - offsetof(type, member)))

static inline void bfs_list_init(bfs_list_t *head)
{
    head->prev = head->next = head;
}

static inline int bfs_list_empty(const bfs_list_t *head)
{
    return head->next == head;
}

static inline void bfs_list_push_front(bfs_list_t *head, bfs_list_t *node)
{
    node->next = head->next;
    node->prev = head;
    head->next->prev = node;
    head->next = node;
}

static inline void bfs_list_push_back(bfs_list_t *head, bfs_list_t *node)
{
    bfs_list_push_front(head->prev, node);
}

/* Leaves the node self-linked so a second removal is harmless. */
static inline void bfs_list_remove(bfs_list_t *node)
{
    node->prev->next = node->next;
    node->next->prev = node->prev;
    bfs_list_init(node);
}

#endif
