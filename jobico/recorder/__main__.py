from functools import partial

from jobico.component import main
from jobico.recorder.service import RecorderService

main("recorder", partial(RecorderService, own_process=True))
