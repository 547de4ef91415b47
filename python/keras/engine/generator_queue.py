"""`GeneratorEnqueuer`: runs a Python generator in worker threads (or processes) and
fills a queue, for `fit_generator`, `evaluate_generator` and `predict_generator`."""

import queue
import threading
import time

import numpy as np


class GeneratorEnqueuer:
    """Runs a Python generator in worker threads (or processes with pickle_safe) and
    fills a queue; the engine releases the GIL while it trains, so threads overlap."""

    def __init__(self, generator, pickle_safe=False):
        self._generator = generator
        self._pickle_safe = pickle_safe
        self._threads = []
        self._stop_event = None
        self.queue = None

    def start(self, nb_worker=1, max_q_size=10, wait_time=0.05):
        def data_generator_task():
            while not self._stop_event.is_set():
                try:
                    if self._pickle_safe or self.queue.qsize() < max_q_size:
                        # one worker at a time: a plain generator shared by threads
                        # raises "generator already executing" otherwise
                        with self._lock:
                            generator_output = next(self._generator)
                        self.queue.put(generator_output)
                    else:
                        time.sleep(wait_time)
                except StopIteration:
                    self._stop_event.set()
                    break
                except Exception as e:  # surfaced to the consumer
                    self._stop_event.set()
                    self.queue.put(_GeneratorFailure(e))
                    break

        if self._pickle_safe:
            import multiprocessing

            self.queue = multiprocessing.Queue(maxsize=max_q_size)
            self._stop_event = multiprocessing.Event()
        else:
            self.queue = queue.Queue()
            self._stop_event = threading.Event()
        self._lock = threading.Lock()
        for _ in range(nb_worker):
            if self._pickle_safe:
                import multiprocessing

                np.random.seed()
                thread = multiprocessing.Process(target=data_generator_task)
                thread.daemon = True
            else:
                thread = threading.Thread(target=data_generator_task)
                thread.daemon = True
            self._threads.append(thread)
            thread.start()

    def is_running(self):
        return self._stop_event is not None and not self._stop_event.is_set()

    def stop(self, timeout=None):
        if self._stop_event is not None:
            self._stop_event.set()
        for thread in self._threads:
            if thread.is_alive():
                if self._pickle_safe:
                    thread.terminate()
                else:
                    thread.join(timeout)
        self._threads = []
        self._stop_event = None
        self.queue = None

    def get(self, wait_time=0.05):
        while True:
            if self.queue is None:
                raise StopIteration
            try:
                item = self.queue.get(timeout=wait_time)
            except queue.Empty:
                if not self.is_running() and (self.queue is None or self.queue.empty()):
                    raise StopIteration from None
                continue
            except Exception:
                if not self.is_running():
                    raise StopIteration from None
                continue
            if isinstance(item, _GeneratorFailure):
                raise item.error
            return item


class _GeneratorFailure:
    def __init__(self, error):
        self.error = error
