"""EchoGround: curation library that rebuilds a measurement-grounded echocardiography dataset.

Every stage imports and logs without Prefect; the flows in ``flows/`` only wire these stages.
"""

__version__ = "0.1.0"
